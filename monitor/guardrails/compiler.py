"""Compile a model's rules against its feature declarations, or say which rule is wrong.

``ModelConfig`` calls :func:`compile_rules` while it validates, so ``driftd check-config``
reports a bad rule without starting anything, and :class:`~monitor.guardrails.Guardrails`
compiles the same way at start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.config import FeatureConfig, ModelConfig
from monitor.config_guardrails import (
    AggregateRule,
    CategoriesRule,
    DecisionRule,
    ExpressionRule,
    RangeRule,
    RequiredRule,
    ScoreBandRule,
)
from monitor.guardrails.checks import (
    CategoriesCheck,
    DecisionCheck,
    RangeCheck,
    RequiredCheck,
    ScoreBandCheck,
)
from monitor.guardrails.expressions import CompiledExpression, compile_expression
from monitor.guardrails.results import GuardrailError


@dataclass(frozen=True, slots=True)
class CompiledRules:
    # Per-decision rules in config order: a check, or an expression evaluated by polars.
    decision: list[DecisionCheck | CompiledExpression]
    expressions: list[CompiledExpression]
    aggregates: list[AggregateRule]
    # Declared features any rule reads: the only columns a batch needs.
    features_used: frozenset[str]


def compile_rules(model_config: ModelConfig) -> CompiledRules:
    """Every rule of ``model_config``; raises :class:`GuardrailError` naming the rule."""
    features = model_config.features
    names: set[str] = set()
    decision: list[DecisionCheck | CompiledExpression] = []
    aggregates: list[AggregateRule] = []
    used: set[str] = set()
    for index, rule in enumerate(model_config.guardrails):
        if rule.name in names:
            raise GuardrailError(f"guardrail {rule.name!r}: two rules have this name")
        names.add(rule.name)
        if isinstance(rule, AggregateRule):
            if rule.feature is not None:
                _feature(rule.name, rule.feature, features)
                used.add(rule.feature)
            aggregates.append(rule)
            continue
        compiled = _compile_decision_rule(rule, index, features)
        used.update(_features_of(compiled))
        decision.append(compiled)
    expressions = [c for c in decision if isinstance(c, CompiledExpression)]
    return CompiledRules(decision, expressions, aggregates, frozenset(used))


def _compile_decision_rule(
    rule: DecisionRule, index: int, features: Mapping[str, FeatureConfig]
) -> DecisionCheck | CompiledExpression:
    name = rule.name
    if isinstance(rule, RangeRule):
        feature = _feature(name, rule.feature, features, "numeric")
        low, high = rule.min, rule.max
        if low is None and high is None:
            if feature.range is None:
                raise GuardrailError(
                    f"guardrail {name!r}: set min or max, or declare a range for "
                    f"feature {rule.feature!r}"
                )
            low, high = feature.range
        return RangeCheck(
            name,
            rule.action,
            rule.feature,
            -math.inf if low is None else low,
            math.inf if high is None else high,
        )
    if isinstance(rule, RequiredRule):
        listed = rule.features
        if listed is None:
            listed = [f for f, feature in features.items() if feature.required]
            if not listed:
                raise GuardrailError(
                    f"guardrail {name!r}: list its features; none is declared required: true"
                )
        for feature_name in listed:
            _feature(name, feature_name, features)
        return RequiredCheck(name, rule.action, tuple(dict.fromkeys(listed)))
    if isinstance(rule, CategoriesRule):
        feature = _feature(name, rule.feature, features, "categorical")
        allowed = rule.allowed if rule.allowed is not None else feature.categories
        if allowed is None:
            raise GuardrailError(
                f"guardrail {name!r}: set allowed, or declare categories for "
                f"feature {rule.feature!r}"
            )
        return CategoriesCheck(name, rule.action, rule.feature, frozenset(allowed))
    if isinstance(rule, ScoreBandRule):
        return ScoreBandCheck(name, rule.action, rule.low, rule.high, rule.outside)
    assert isinstance(rule, ExpressionRule)
    return compile_expression(name, rule.action, rule.expression, index, features)


def _feature(
    rule: str, name: str, features: Mapping[str, FeatureConfig], kind: str | None = None
) -> FeatureConfig:
    feature = features.get(name)
    if feature is None:
        declared = ", ".join(sorted(features))
        raise GuardrailError(f"guardrail {rule!r}: unknown feature {name!r} (declared: {declared})")
    if kind is not None and feature.type != kind:
        raise GuardrailError(
            f"guardrail {rule!r}: feature {name!r} is {feature.type}, this kind needs a {kind} one"
        )
    return feature


def _features_of(compiled: DecisionCheck | CompiledExpression) -> set[str]:
    if isinstance(compiled, CompiledExpression):
        return set(compiled.features)
    if isinstance(compiled, RequiredCheck):
        return set(compiled.features)
    if isinstance(compiled, RangeCheck | CategoriesCheck):
        return {compiled.feature}
    return set()
