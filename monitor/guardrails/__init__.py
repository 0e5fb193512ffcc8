"""Guardrails: declarative rules evaluated on every decision of a model, in columns.

::

    guardrails = Guardrails("credit-risk", config.models["credit-risk"])
    evaluation = guardrails.evaluate(guardrails.batch(events))
    for index in evaluation.flagged:
        ...  # evaluation.hits[index], evaluation.review[index], evaluation.blocked[index]

See ``docs/guardrails.md`` for the rule kinds and the expression language.
"""

from monitor.guardrails.batch import DecisionBatch
from monitor.guardrails.compiler import CompiledRules, compile_rules
from monitor.guardrails.engine import Guardrails
from monitor.guardrails.results import AggregateHit, Evaluation, GuardrailError, RuleHit

__all__ = [
    "AggregateHit",
    "CompiledRules",
    "DecisionBatch",
    "Evaluation",
    "GuardrailError",
    "Guardrails",
    "RuleHit",
    "compile_rules",
]
