"""Evaluate a model's compiled guardrails on a batch of its decisions.

Pure: no Kafka, no I/O and no logging — reasons quote feature values and belong on the
review topic only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from monitor.config import ModelConfig
from monitor.events import Event
from monitor.guardrails.aggregates import AggregateMonitor
from monitor.guardrails.batch import Coded, DecisionBatch
from monitor.guardrails.checks import DecisionCheck
from monitor.guardrails.compiler import compile_rules
from monitor.guardrails.expressions import (
    CompiledExpression,
    ExpressionOutcome,
    decision_frame,
    evaluate_expressions,
    evaluate_one,
)
from monitor.guardrails.fallback import FAILURES, isolate_failures
from monitor.guardrails.results import (
    ERROR_ACTION,
    ERROR_KIND,
    AggregateHit,
    Evaluation,
    HitLists,
    RuleHit,
)

STATE_VERSION = 1


class Guardrails:
    """The guardrails of one model. Compiling happens here: a bad rule raises
    :class:`~monitor.guardrails.GuardrailError` naming it."""

    def __init__(self, model: str, model_config: ModelConfig) -> None:
        self.model = model
        self.model_config = model_config
        self._rules = compile_rules(model_config)
        self._aggregates = [AggregateMonitor(rule) for rule in self._rules.aggregates]
        self._expression_features = frozenset().union(
            *(expression.features for expression in self._rules.expressions)
        )

    @property
    def features_used(self) -> frozenset[str]:
        """The declared features the rules read; a batch needs only these columns."""
        return self._rules.features_used

    def batch(
        self, events: Sequence[Event], codes: Mapping[str, Coded] | None = None
    ) -> DecisionBatch:
        return DecisionBatch.from_events(events, self.model_config, self.features_used, codes)

    def evaluate(self, batch: DecisionBatch) -> Evaluation:
        if batch.size and batch.model != self.model:
            raise ValueError(f"a batch of model {batch.model!r} given to {self.model!r}")
        absent = self.features_used - batch.numeric.keys() - batch.categorical.keys()
        if absent:
            raise ValueError(f"the batch lacks the columns {sorted(absent)} the rules read")
        outcome = _Outcome(batch.size)
        expressions = self._evaluate_expressions(batch)
        for rule in self._rules.decision:
            if isinstance(rule, CompiledExpression):
                result = expressions[rule.name]
                matched, errors = result.matched, result.errors
            else:
                matched, errors = _evaluate_check(rule, batch)
            outcome.record(rule, matched, partial(rule.reason, batch), errors)
        aggregate: list[AggregateHit] = []
        for monitor in self._aggregates:
            try:
                changes, outside = monitor.observe(batch)
            except FAILURES:
                # No decision to put a hit on; the count still shows it on the metrics.
                outcome.error_counts[monitor.rule.name] = 1
                continue
            aggregate.extend(changes)
            outcome.rule_counts[monitor.rule.name] = outside
        # In decision order (rule order within a decision), as if evaluated one by one.
        aggregate.sort(key=lambda hit: hit.window_end_index)
        return outcome.evaluation(aggregate)

    def _evaluate_expressions(self, batch: DecisionBatch) -> dict[str, ExpressionOutcome]:
        expressions = self._rules.expressions
        if not expressions:
            return {}
        if batch.size == 0:
            empty = ExpressionOutcome(np.zeros(0, dtype=bool), {})
            return {expression.name: empty for expression in expressions}
        features = self._expression_features
        try:
            frame = decision_frame(batch, features)
        except FAILURES:
            # A value polars cannot take in (none known) fails the frame of the whole
            # batch: frames of slices find the decisions that hold one.
            return {e.name: _evaluate_on_slices(e, batch, features) for e in expressions}
        outcomes = evaluate_expressions(expressions, frame)
        return {e.name: o for e, o in zip(expressions, outcomes, strict=True)}

    def snapshot(self) -> dict[str, Any]:
        """Aggregate windows and alert states: JSON- and msgpack-safe."""
        return {
            "version": STATE_VERSION,
            "aggregates": {m.rule.name: m.snapshot() for m in self._aggregates},
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(
                f"guardrail state version {state.get('version')} is not {STATE_VERSION}"
            )
        saved = state["aggregates"]
        for monitor in self._aggregates:
            # A rule added since the snapshot starts empty; a removed one is dropped.
            if monitor.rule.name in saved:
                monitor.restore(saved[monitor.rule.name])


def _evaluate_check(check: DecisionCheck, batch: DecisionBatch) -> tuple[np.ndarray, dict]:
    """The built-in checks do not fail on data the decoder lets through; should one fail
    anyway, it is narrowed down like an expression so only the failing decisions suffer."""
    try:
        return check.matches(batch), {}
    except FAILURES:
        pass

    def evaluate(start: int, stop: int) -> np.ndarray:
        return check.matches(batch.take(slice(start, stop)))

    return isolate_failures(batch.size, evaluate)


def _evaluate_on_slices(
    expression: CompiledExpression, batch: DecisionBatch, features: frozenset[str]
) -> ExpressionOutcome:
    def evaluate(start: int, stop: int) -> np.ndarray:
        return evaluate_one(expression, decision_frame(batch.take(slice(start, stop)), features))

    return ExpressionOutcome(*isolate_failures(batch.size, evaluate))


class _Outcome:
    """Collects the hits of the rules, in rule order, into the evaluation's columns."""

    def __init__(self, size: int) -> None:
        self.hits = HitLists(size)
        self.blocked = np.zeros(size, dtype=bool)
        self.review = np.zeros(size, dtype=bool)
        self.alert = np.zeros(size, dtype=bool)
        self.flagged = np.zeros(size, dtype=bool)
        self.rule_counts: dict[str, int] = {}
        self.error_counts: dict[str, int] = {}

    def record(
        self,
        rule: DecisionCheck | CompiledExpression,
        matched: np.ndarray,
        reason: Callable[[int], str],
        errors: dict[int, str],
    ) -> None:
        indices = np.flatnonzero(matched)
        hits = self.hits
        name, kind, action = rule.name, rule.kind, rule.action
        for index in indices.tolist():
            hits.add(index, RuleHit(name, kind, action, reason(index)))
        if action == "block":
            self.blocked |= matched
            self.review |= matched
        elif action == "review":
            self.review |= matched
        else:
            self.alert |= matched
        self.flagged |= matched
        for index, error in sorted(errors.items()):
            hits.add(index, RuleHit(name, ERROR_KIND, ERROR_ACTION, f"rule failed: {error}"))
            self.review[index] = True
            self.flagged[index] = True
        self.rule_counts[name] = len(indices)
        if errors:
            self.error_counts[name] = len(errors)

    def evaluation(self, aggregate: list[AggregateHit]) -> Evaluation:
        return Evaluation(
            hits=self.hits,
            blocked=self.blocked,
            review=self.review,
            alert=self.alert,
            flagged=np.flatnonzero(self.flagged),
            aggregate=aggregate,
            rule_counts=self.rule_counts,
            error_counts=self.error_counts,
        )
