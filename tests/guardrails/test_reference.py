"""Property: the vectorised evaluation equals a plain per-decision reference, whatever the
data and however it is cut into batches."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.events import Event
from tests.guardrails.support import batch, event, guardrails

RULES: list[dict[str, Any]] = [
    {"name": "income-range", "kind": "range", "feature": "income", "action": "block"},
    {"name": "adult", "kind": "range", "feature": "age", "min": 18, "action": "review"},
    {"name": "complete", "kind": "required", "action": "review"},
    {"name": "has-channel", "kind": "required", "features": ["channel", "age"], "action": "alert"},
    {"name": "region-known", "kind": "categories", "feature": "region", "action": "alert"},
    {"name": "channels", "kind": "categories", "feature": "channel", "allowed": ["web", "app"],
     "action": "review"},
    {"name": "unsure", "kind": "score_band", "low": 0.375, "high": 0.625, "action": "review"},
    {"name": "extreme", "kind": "score_band", "low": 0.125, "high": 0.875, "outside": True,
     "action": "block"},
    {"name": "poor-confident", "kind": "expression", "action": "block",
     "expression": "features.income < 20000 and prediction.score > 0.75"},
    {"name": "old-version", "kind": "expression", "action": "alert",
     "expression": "model = 'credit-risk' AND version <> '3'"},
    {"name": "eu-or-senior", "kind": "expression", "action": "review",
     "expression": "features.region IN ('eu', 'us') OR features.age >= 65"},
    {"name": "no-channel", "kind": "expression", "action": "alert",
     "expression": "coalesce(features.channel, 'none') = 'none'"},
    {"name": "rate", "kind": "aggregate", "statistic": "positive_rate", "window": 10, "every": 3,
     "min": 0.25, "max": 0.75},
    {"name": "mean", "kind": "aggregate", "statistic": "mean_score", "window": 12, "every": 12,
     "max": 0.5},
    {"name": "gaps", "kind": "aggregate", "statistic": "missing_rate", "feature": "income",
     "window": 15, "every": 5, "min": 0.1, "max": 0.4, "positive": "label"},
]  # fmt: skip

RAILS = guardrails(RULES)
FRESH = RAILS.snapshot()


def reference_hits(e: Event) -> list[tuple[str, str, str]]:
    """Each rule written out for one event, the obvious way."""
    f: Any = e.features or {}  # a dictionary or the fast lane's struct, read alike
    score: Any = (e.prediction or {}).get("score")
    income, age, region, channel = (f.get(k) for k in ("income", "age", "region", "channel"))
    checks = {
        "income-range": income is not None and not 0 <= income <= 10_000_000,
        "adult": age is not None and age < 18,
        "complete": income is None or region is None,
        "has-channel": channel is None or age is None,
        "region-known": region is not None and region not in ("eu", "us"),
        "channels": channel is not None and channel not in ("web", "app"),
        "unsure": score is not None and 0.375 <= score <= 0.625,
        "extreme": score is not None and not 0.125 <= score <= 0.875,
        "poor-confident": income is not None and income < 20000 and score is not None
        and score > 0.75,
        "old-version": e.version is not None and e.version != "3",
        "eu-or-senior": region in ("eu", "us") or (age is not None and age >= 65),
        "no-channel": channel is None,
    }  # fmt: skip
    actions = {rule["name"]: rule["action"] for rule in RULES if rule["kind"] != "aggregate"}
    kinds = {rule["name"]: rule["kind"] for rule in RULES}
    return [(name, kinds[name], actions[name]) for name, hit in checks.items() if hit]


def reference_aggregates(events: list[Event]) -> list[tuple[str, float, int, bool]]:
    """Decision by decision: a window of plain lists, judged every `every` decisions."""
    changes = []
    for rule in (r for r in RULES if r["kind"] == "aggregate"):
        values: list[float | None] = []
        firing = False
        for i, e in enumerate(events):
            values.append(_value(rule, e))
            if (i + 1) % rule["every"] or i + 1 < rule["window"]:
                continue
            window = [v for v in values[-rule["window"] :] if v is not None]
            if not window:
                continue
            value = sum(window) / len(window)
            outside = value < rule.get("min", -1e300) or value > rule.get("max", 1e300)
            if outside != firing:
                changes.append((rule["name"], value, i, outside))
                firing = outside
    return sorted(changes, key=lambda change: change[2])


def _value(rule: dict[str, Any], e: Event) -> float | None:
    prediction: Any = e.prediction or {}
    score, label = prediction.get("score"), prediction.get("label")
    if rule["statistic"] == "mean_score":
        return score
    if rule["statistic"] == "missing_rate":
        return float((e.features or {}).get(rule["feature"]) is None)
    if label is not None:
        return float(label == 1)
    return None if score is None else float(score >= 0.5)


maybe = st.one_of
# Scores on a grid of eighths: every sum of them is exact, in any order, so the reference
# may add them up naively and still be compared exactly.
SCORES = st.none() | st.integers(0, 8).map(lambda k: k / 8)
FEATURES = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "income": st.none() | st.sampled_from([-1.0, 0.0, 15000.0, 20000.0, 5e7]),
        "age": st.none() | st.sampled_from([10.0, 18.0, 40.0, 65.0, 90.0]),
        "region": st.none() | st.sampled_from(["eu", "us", "apac", ""]),
        "channel": st.none() | st.sampled_from(["web", "app", "branch"]),
    },
)
EVENT_PARTS = st.tuples(
    FEATURES,
    SCORES,
    st.none() | st.sampled_from([0, 1, True, False]),
    st.none() | st.sampled_from(["3", "4"]),
    st.booleans(),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(EVENT_PARTS, max_size=60), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_vectorised_equals_reference(parts: list[tuple], cuts: list[int]) -> None:
    events = [
        event(i, features, score=score, label=label, version=version, prediction=has_prediction)
        for i, (features, score, label, version, has_prediction) in enumerate(parts)
    ]
    RAILS.restore(FRESH)
    hits, blocked, review, alert, changes = [], [], [], [], []
    start = 0
    for stop in sorted({c for c in cuts if c < len(events)} | {len(events)}):
        result = RAILS.evaluate(batch(RAILS, events[start:stop]))
        hits += [[(h.rule, h.kind, h.action) for h in decision] for decision in result.hits]
        blocked += result.blocked.tolist()
        review += result.review.tolist()
        alert += result.alert.tolist()
        changes += [(h.rule, h.value, h.window_end_index, h.firing) for h in result.aggregate]
        assert not result.error_counts
        start = stop
    expected = [reference_hits(e) for e in events]
    assert hits == expected
    assert blocked == [any(a == "block" for _, _, a in d) for d in expected]
    assert review == [any(a in ("block", "review") for _, _, a in d) for d in expected]
    assert alert == [any(a == "alert" for _, _, a in d) for d in expected]
    assert changes == reference_aggregates(events)
