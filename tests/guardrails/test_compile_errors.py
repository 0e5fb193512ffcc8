"""Bad rules are reported by check-config (parse_config), each message naming the rule."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.config_loader import parse_config
from monitor.errors import ConfigError
from tests.guardrails.support import config_text


def problems(rules: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(rules), source="cfg")
    return info.value.problems


def expression(text: str) -> list[dict[str, Any]]:
    return [{"name": "odd-one", "kind": "expression", "expression": text, "action": "review"}]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "odd-one", "kind": "range", "feature": "incme", "action": "block"}],
            "unknown feature 'incme' (declared: age, channel, debt-ratio, income, region)",
        ),
        (
            [{"name": "odd-one", "kind": "range", "feature": "region", "action": "block"}],
            "feature 'region' is categorical, this kind needs a numeric one",
        ),
        (
            [{"name": "odd-one", "kind": "range", "feature": "debt-ratio", "action": "alert"}],
            "set min or max, or declare a range for feature 'debt-ratio'",
        ),
        (
            [{"name": "odd-one", "kind": "categories", "feature": "age", "action": "alert"}],
            "feature 'age' is numeric, this kind needs a categorical one",
        ),
        (
            [{"name": "odd-one", "kind": "categories", "feature": "channel", "action": "alert"}],
            "set allowed, or declare categories for feature 'channel'",
        ),
        (
            [{"name": "odd-one", "kind": "required", "features": ["nope"], "action": "alert"}],
            "unknown feature 'nope'",
        ),
        (
            [
                {
                    "name": "odd-one",
                    "kind": "aggregate",
                    "statistic": "missing_rate",
                    "feature": "nope",
                    "window": 100,
                    "max": 0.5,
                },
            ],
            "unknown feature 'nope'",
        ),
        (expression("features.income <"), "malformed expression"),
        (expression("features.incme < 3"), "unknown feature 'incme'"),
        (
            expression("CASE WHEN features.nosuch = 'x' THEN true ELSE false END"),
            "unknown feature 'nosuch'",
        ),
        (expression("income < 3"), "unknown name 'income' (use features.NAME"),
        (expression("features.income + 1"), "the result must be true/false, not Float64"),
        (expression("features.region > 5"), "cannot compare string with numeric type"),
        (expression("features.income > AVG(features.income)"), "aggregate, window"),
        (expression("count(*) > 3"), "aggregate, window"),
        (expression("ROW_NUMBER() OVER () > 3"), "aggregate, window"),
        (expression("features.income > (SELECT 1)"), "aggregate, window"),
        (
            [
                {
                    "name": "odd-one",
                    "kind": "score_band",
                    "low": 0.1,
                    "high": 0.2,
                    "action": "alert",
                },
                {
                    "name": "odd-one",
                    "kind": "score_band",
                    "low": 0.3,
                    "high": 0.4,
                    "action": "alert",
                },
            ],
            "two rules have this name",
        ),
    ],
)
def test_compile_errors_name_the_rule(rules: list[dict[str, Any]], message: str) -> None:
    found = problems(rules)
    assert len(found) == 1, found
    assert found[0].startswith("cfg: models.credit-risk (line 2): ")
    assert "guardrail 'odd-one': " in found[0] and message in found[0], found[0]


@pytest.mark.parametrize(
    ("rule", "key", "message"),
    [
        (
            {"kind": "score_band", "low": 0.6, "high": 0.4, "action": "review"},
            "score_band",
            "low and high are inverted (0.6 > 0.4)",
        ),
        (
            {"kind": "range", "feature": "age", "min": 5, "max": 1, "action": "block"},
            "range",
            "min and max are inverted (5 > 1)",
        ),
        (
            {
                "kind": "aggregate",
                "statistic": "mean_score",
                "window": 100,
                "max": 0.5,
                "action": "block",
            },
            "aggregate",
            "an aggregate rule can only alert (action: alert), not block",
        ),
        (
            {"kind": "aggregate", "statistic": "missing_rate", "window": 100, "max": 0.5},
            "aggregate",
            "missing_rate needs a feature",
        ),
        (
            {"kind": "aggregate", "statistic": "mean_score", "window": 100},
            "aggregate",
            "set min, max or both",
        ),
        (
            {"kind": "aggregate", "statistic": "mean_score", "window": 100, "every": 101, "min": 0},
            "aggregate",
            "every must not exceed window",
        ),
    ],
)
def test_rule_level_errors_name_the_rule_and_point_at_it(
    rule: dict[str, Any], key: str, message: str
) -> None:
    found = problems([{"name": "odd-one", **rule}])
    assert len(found) == 1, found
    assert found[0].startswith(f"cfg: models.credit-risk.guardrails[0].{key} (line ")
    assert f"guardrail 'odd-one': {message}" in found[0], found[0]


def test_unknown_kind_and_keys_are_named() -> None:
    found = problems([{"name": "x", "kind": "nope", "action": "review"}])
    assert "Input tag 'nope'" in found[0] and "'score_band'" in found[0]
    found = problems(
        [{"name": "x", "kind": "score_band", "low": 0, "high": 1, "action": "review", "hihg": 2}]
    )
    assert len(found) == 1 and found[0].endswith("): unknown key")
    assert found[0].startswith("cfg: models.credit-risk.guardrails[0].score_band.hihg (line ")
    found = problems([{"name": "x", "kind": "score_band", "low": 0, "high": 1, "action": "stop"}])
    assert "guardrails[0].score_band.action" in found[0]


def test_a_literal_that_looks_like_a_node_name_is_fine() -> None:
    parse_config(config_text(expression("features.region = 'Agg' OR features.channel = 'Len'")))


def test_models_without_rules_do_not_compile_anything() -> None:
    config = parse_config(config_text([]))
    assert config.models["credit-risk"].guardrails == []
