"""The built-in kinds on crafted batches: exact masks, actions, reasons, defaults."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.events import Event
from monitor.guardrails import DecisionBatch, RuleHit
from tests.guardrails.support import batch, event, guardrails


def mask(*bits: int) -> np.ndarray:
    return np.array(bits, dtype=bool)


def test_range_defaults_to_the_declared_range_and_ignores_missing_values() -> None:
    rails = guardrails(
        [{"name": "income-range", "kind": "range", "feature": "income", "action": "block"}]
    )
    events = [
        event(0, {"income": -5.0}),
        event(1, {"income": 0.0}),
        event(2, {"income": 10_000_000.0}),
        event(3, {"income": 20_000_000.0}),
        event(4, {"region": "eu"}),  # income missing: not a range violation
        event(5, None),  # a predictions-only half
    ]
    result = rails.evaluate(batch(rails, events))
    expected = mask(1, 0, 0, 1, 0, 0)
    np.testing.assert_array_equal(result.blocked, expected)
    np.testing.assert_array_equal(result.review, expected)  # block also goes to review
    np.testing.assert_array_equal(result.alert, mask(0, 0, 0, 0, 0, 0))
    np.testing.assert_array_equal(result.flagged, [0, 3])
    assert result.hits[0] == [
        RuleHit("income-range", "range", "block", "income=-5 outside [0, 1e+07]")
    ]
    assert result.hits[3][0].reason == "income=2e+07 outside [0, 1e+07]"
    assert result.hits[1] == [] and result.hits[4] == []
    assert result.rule_counts == {"income-range": 2}


def test_range_with_one_bound_leaves_the_other_open() -> None:
    rails = guardrails(
        [{"name": "young", "kind": "range", "feature": "age", "min": 21, "action": "review"}]
    )
    events = [event(i, {"age": age}) for i, age in enumerate([20.0, 21.0, 500.0])]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.review, mask(1, 0, 0))
    assert result.hits[0][0].reason == "age=20 outside [21, inf]"


def test_required_defaults_to_the_features_declared_required() -> None:
    rails = guardrails([{"name": "complete", "kind": "required", "action": "review"}])
    events = [
        event(0, {"income": 1.0, "region": "eu"}),
        event(1, {"income": 1.0}),
        event(2, {"age": 30.0}),
        event(3, None),
        event(4, {"income": 1.0, "region": None}),
    ]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.review, mask(0, 1, 1, 1, 1))
    assert result.hits[1][0].reason == "missing required feature: region"
    assert result.hits[2][0].reason == "missing required features: income, region"


def test_required_with_listed_features() -> None:
    rails = guardrails(
        [{"name": "has-channel", "kind": "required", "features": ["channel"], "action": "alert"}]
    )
    events = [event(0, {"channel": "web"}), event(1, {"income": 1.0})]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.alert, mask(0, 1))
    np.testing.assert_array_equal(result.review, mask(0, 0))


def test_categories_default_to_the_declared_ones() -> None:
    rails = guardrails(
        [{"name": "region-known", "kind": "categories", "feature": "region", "action": "alert"}]
    )
    events = [
        event(0, {"region": "eu"}),
        event(1, {"region": "mars"}),
        event(2, {}),
        event(3, {"region": "EU"}),
        event(4, {"region": 7}),  # numbers are categories too, spelled canonically
    ]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.alert, mask(0, 1, 0, 1, 1))
    assert result.hits[1][0].reason == "unseen category region='mars'"
    assert result.hits[4][0].reason == "unseen category region='7'"


def test_categories_with_an_allowed_list() -> None:
    rails = guardrails(
        [
            {
                "name": "channels",
                "kind": "categories",
                "feature": "channel",
                "allowed": ["web", "app"],
                "action": "review",
            }
        ]
    )
    events = [event(i, {"channel": c}) for i, c in enumerate(["web", "branch", "app"])]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.review, mask(0, 1, 0))


def test_score_band_within_and_outside() -> None:
    rails = guardrails(
        [
            {"name": "unsure", "kind": "score_band", "low": 0.45, "high": 0.55, "action": "review"},
            {
                "name": "extreme",
                "kind": "score_band",
                "low": 0.05,
                "high": 0.95,
                "outside": True,
                "action": "alert",
            },
        ]
    )
    scores = [0.44, 0.45, 0.5, 0.55, 0.56, 0.01, 0.99, None]
    events = [event(i, {}, score=s) for i, s in enumerate(scores)]
    result = rails.evaluate(batch(rails, events))
    np.testing.assert_array_equal(result.review, mask(0, 1, 1, 1, 0, 0, 0, 0))
    np.testing.assert_array_equal(result.alert, mask(0, 0, 0, 0, 0, 1, 1, 0))
    assert result.hits[2][0].reason == "score=0.5 within [0.45, 0.55]"
    assert result.hits[6][0].reason == "score=0.99 outside [0.05, 0.95]"
    assert result.rule_counts == {"unsure": 3, "extreme": 2}


def test_hits_come_in_rule_order_and_actions_combine() -> None:
    rails = guardrails(
        [
            {"name": "unsure", "kind": "score_band", "low": 0.4, "high": 0.6, "action": "alert"},
            {"name": "income-range", "kind": "range", "feature": "income", "action": "block"},
            {"name": "complete", "kind": "required", "action": "review"},
        ]
    )
    events = [
        event(0, {"income": -1.0}, score=0.5),
        event(1, {"income": 5.0, "region": "eu"}, score=0.9),
    ]
    result = rails.evaluate(batch(rails, events))
    assert [h.rule for h in result.hits[0]] == ["unsure", "income-range", "complete"]
    np.testing.assert_array_equal(result.blocked, mask(1, 0))
    np.testing.assert_array_equal(result.alert, mask(1, 0))
    assert result.hits[1] == []


def test_an_empty_batch() -> None:
    rails = guardrails(
        [
            {"name": "unsure", "kind": "score_band", "low": 0.4, "high": 0.6, "action": "alert"},
            {
                "name": "x",
                "kind": "expression",
                "expression": "prediction.score > 1",
                "action": "review",
            },
            {
                "name": "rate",
                "kind": "aggregate",
                "statistic": "mean_score",
                "window": 10,
                "max": 1,
            },
        ]
    )
    result = rails.evaluate(batch(rails, []))
    assert result.hits == [] and result.blocked.shape == (0,) and result.aggregate == []
    assert result.rule_counts == {"unsure": 0, "x": 0, "rate": 0}


def test_a_batch_limited_to_the_features_the_rules_read() -> None:
    rails = guardrails(
        [
            {"name": "r", "kind": "range", "feature": "age", "action": "alert"},
            {
                "name": "x",
                "kind": "expression",
                "expression": "features.channel = 'web'",
                "action": "alert",
            },
        ]
    )
    assert rails.features_used == {"age", "channel"}
    decisions = rails.batch([event(0, {"age": 5.0, "channel": "web", "income": 1.0})])
    assert set(decisions.numeric) == {"age"} and set(decisions.categorical) == {"channel"}
    result = rails.evaluate(decisions)
    assert [h.rule for h in result.hits[0]] == ["r", "x"]


class _FailsOnThirteen:
    """A check that raises whenever its batch holds income 13: stands for any rule that
    cannot evaluate some value."""

    name, kind, action = "fragile", "range", "alert"

    def matches(self, decisions: DecisionBatch) -> np.ndarray:
        income = decisions.numeric["income"]
        if (income == 13.0).any():
            raise ArithmeticError("thirteen")
        return income > 100

    def reason(self, decisions: DecisionBatch, index: int) -> str:
        return "big"


def test_a_failing_check_affects_only_the_decisions_it_fails_on() -> None:
    rails = guardrails(
        [{"name": "fragile", "kind": "range", "feature": "income", "min": 0, "action": "alert"}]
    )
    rails._rules.decision[0] = _FailsOnThirteen()
    incomes = [1.0, 13.0, 500.0, 2.0, 13.0, 900.0, 3.0]
    result = rails.evaluate(batch(rails, [event(i, {"income": v}) for i, v in enumerate(incomes)]))
    np.testing.assert_array_equal(result.alert, mask(0, 0, 1, 0, 0, 1, 0))
    np.testing.assert_array_equal(result.review, mask(0, 1, 0, 0, 1, 0, 0))
    assert result.hits[1] == [RuleHit("fragile", "error", "review", "rule failed: thirteen")]
    assert result.error_counts == {"fragile": 2} and result.rule_counts == {"fragile": 2}


def test_batches_must_fit_the_guardrails() -> None:
    rails = guardrails([{"name": "r", "kind": "range", "feature": "age", "action": "alert"}])
    other = Event("fraud", "x", 1.7e9, None, {}, None, None, "t", 0, 0)
    with pytest.raises(ValueError, match="one model"):
        DecisionBatch.from_events([event(0, {}), other], rails.model_config)
    with pytest.raises(ValueError, match="model 'fraud'"):
        rails.evaluate(DecisionBatch.from_events([other], rails.model_config))
    narrow = DecisionBatch.from_events([event(0, {})], rails.model_config, features={"income"})
    with pytest.raises(ValueError, match="lacks the columns"):
        rails.evaluate(narrow)


def test_values_of_the_wrong_type_count_as_missing() -> None:
    rails = guardrails(
        [
            {"name": "r", "kind": "range", "feature": "age", "action": "alert"},
            {
                "name": "need",
                "kind": "required",
                "features": ["age", "channel"],
                "action": "review",
            },
        ]
    )
    events = [event(0, {"age": "n/a", "channel": ["web"]}), event(1, {"age": "7", "channel": 3})]
    decisions = batch(rails, events)
    np.testing.assert_array_equal(decisions.numeric["age"], [np.nan, 7.0])
    assert decisions.categorical["channel"].tolist() == [None, "3"]
    result = rails.evaluate(decisions)
    np.testing.assert_array_equal(result.alert, mask(0, 1))
    np.testing.assert_array_equal(result.review, mask(1, 0))
