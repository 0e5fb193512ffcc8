"""Expression rules: the documented syntax, NULL semantics, and failures of single rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from monitor.guardrails import RuleHit
from tests.guardrails.support import batch, event, guardrails


def matches(expression: str, events: list, action: str = "review") -> list[bool]:
    rails = guardrails(
        [{"name": "x", "kind": "expression", "expression": expression, "action": action}]
    )
    result = rails.evaluate(batch(rails, events))
    assert not result.error_counts
    return result.review.tolist()


EVENTS = [
    event(0, {"income": 10_000.0, "region": "eu", "age": 70.0}, score=0.95, version="3"),
    event(1, {"income": 50_000.0, "region": "us", "age": 30.0}, score=0.95, version="4"),
    event(2, {"income": None, "region": None}, score=0.5, label=1, version=None),
    event(3, {"income": 15_000.0, "region": "apac", "debt-ratio": 0.7}, score=None, label=0),
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("features.income < 20000 and prediction.score > 0.9", [True, False, False, False]),
        ("features.income < 20000 AND prediction.score > 0.9", [True, False, False, False]),
        ("model = 'credit-risk' AND version <> '3'", [False, True, False, False]),
        ("version IS NULL", [False, False, True, False]),
        ("features.region IN ('eu', 'us')", [True, True, False, False]),
        ("features.region NOT IN ('eu', 'us')", [False, False, False, True]),
        ("features.income IS NULL OR features.region IS NULL", [False, False, True, False]),
        ("prediction.score BETWEEN 0.45 AND 0.55", [False, False, True, False]),
        ("prediction.label = 1", [False, False, True, False]),
        ('features."debt-ratio" > 0.5', [False, False, False, True]),
        ("features.region LIKE 'a%'", [False, False, False, True]),
        ("lower(features.region) = 'eu' OR features.age >= 65", [True, False, False, False]),
        ("coalesce(features.income, 0) < 1000", [False, False, True, False]),
        ("NOT (features.income > 20000)", [True, False, False, True]),
        (
            "CASE WHEN features.region = 'eu' THEN features.income < 20000 ELSE false END",
            [True, False, False, False],
        ),
    ],
)
def test_documented_syntax(expression: str, expected: list[bool]) -> None:
    assert matches(expression, EVENTS) == expected


def test_null_never_matches_and_the_reason_quotes_the_expression() -> None:
    rails = guardrails(
        [
            {
                "name": "low",
                "kind": "expression",
                "expression": "features.income < 20000",
                "action": "block",
            }
        ]
    )
    result = rails.evaluate(batch(rails, EVENTS))
    np.testing.assert_array_equal(result.blocked, [True, False, False, True])
    assert result.hits[0][0].kind == "expression"
    assert result.hits[0][0].reason == "matched features.income < 20000"


def test_a_value_that_fails_affects_only_its_own_decision() -> None:
    rails = guardrails(
        [
            {
                "name": "big",
                "kind": "expression",
                "action": "alert",
                "expression": "CAST(features.channel AS INT) > 5",
            },
            {
                "name": "eu",
                "kind": "expression",
                "action": "alert",
                "expression": "features.region = 'eu'",
            },
        ]
    )
    channels = ["7", "1", "web", None, "9", "n/a", "3", "8"]
    events = [event(i, {"channel": c, "region": "eu"}) for i, c in enumerate(channels)]
    result = rails.evaluate(batch(rails, events))
    failed = [i for i, hits in enumerate(result.hits) if any(h.kind == "error" for h in hits)]
    assert failed == [2, 5]
    assert result.error_counts == {"big": 2}
    np.testing.assert_array_equal(result.alert, [1, 1, 1, 1, 1, 1, 1, 1])  # every region is eu
    big = [
        i
        for i, hits in enumerate(result.hits)
        if any(h.rule == "big" and h.kind == "expression" for h in hits)
    ]
    assert big == [0, 4, 7]
    error = result.hits[2][0]
    assert (error.rule, error.kind, error.action) == ("big", "error", "review")
    assert "web" in error.reason
    np.testing.assert_array_equal(result.review, [0, 0, 1, 0, 0, 1, 0, 0])
    assert result.rule_counts["big"] == 3 and result.rule_counts["eu"] == 8


def test_every_row_failing() -> None:
    rails = guardrails(
        [
            {
                "name": "cast",
                "kind": "expression",
                "action": "alert",
                "expression": "CAST(features.channel AS INT) > 5",
            }
        ]
    )
    events = [event(i, {"channel": "web"}) for i in range(20)]
    result = rails.evaluate(batch(rails, events))
    assert result.error_counts == {"cast": 20}
    assert result.review.all() and not result.alert.any()


def test_expressions_read_only_the_features_they_name() -> None:
    rails = guardrails(
        [
            {
                "name": "a",
                "kind": "expression",
                "action": "alert",
                "expression": 'features."debt-ratio" > 1 OR features.age < 3',
            },
            {"name": "b", "kind": "expression", "action": "alert", "expression": "version = '3'"},
        ]
    )
    assert rails.features_used == {"debt-ratio", "age"}


def test_missing_values_first_in_a_batch() -> None:
    # Polars infers a column's type from its values: a batch that starts with missing
    # values must still give string columns.
    events = [event(0, {"region": None}, version=None), event(1, {"region": "eu"}, version="4")]
    assert matches("features.region = 'eu' AND version = '4'", events) == [False, True]
    assert matches("features.region IS NULL AND version IS NULL", events) == [True, False]


def test_narrowing_failures_down_has_a_budget() -> None:
    from monitor.guardrails.fallback import isolate_failures

    calls = 0
    failing = {3, 4, 17}

    def evaluate(start: int, stop: int) -> np.ndarray:
        nonlocal calls
        calls += 1
        if failing & set(range(start, stop)):
            raise ValueError(f"bad value in {start}..{stop}")
        return np.arange(start, stop) % 2 == 0

    matched, errors = isolate_failures(32, evaluate)
    assert sorted(errors) == [3, 4, 17] and errors[3] == "bad value in 3..4"
    np.testing.assert_array_equal(np.flatnonzero(matched), [i for i in range(0, 32, 2) if i != 4])
    calls = 0
    matched, errors = isolate_failures(32, evaluate, budget=7)
    assert calls == 7
    # Breadth first: the whole, the halves, the quarters; the eighths of the quarters that
    # failed are still pending, and all of their decisions get an error; the rest is
    # evaluated.
    assert sorted(errors) == list(range(0, 8)) + list(range(16, 24))
    assert errors[0].startswith("not evaluated, too many failures in this batch")
    np.testing.assert_array_equal(np.flatnonzero(matched), [8, 10, 12, 14, 24, 26, 28, 30])


def test_a_batch_polars_cannot_take_in_is_narrowed_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.guardrails import engine

    real = engine.decision_frame

    def picky(decisions: Any, features: frozenset[str]) -> Any:
        if "bad" in decisions.version.tolist():
            raise OverflowError("cannot take this in")
        return real(decisions, features)

    monkeypatch.setattr(engine, "decision_frame", picky)
    rails = guardrails(
        [{"name": "v4", "kind": "expression", "expression": "version = '4'", "action": "alert"}]
    )
    versions = ["4", "bad", "3", "4"]
    result = rails.evaluate(batch(rails, [event(i, {}, version=v) for i, v in enumerate(versions)]))
    np.testing.assert_array_equal(result.alert, [True, False, False, True])
    assert result.hits[1] == [RuleHit("v4", "error", "review", "rule failed: cannot take this in")]
