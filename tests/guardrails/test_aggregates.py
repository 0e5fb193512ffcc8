"""Aggregate rules: firing and resolving, independent of batching, across restore."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import pytest

from monitor.events import Event
from monitor.guardrails import AggregateHit, Guardrails
from tests.guardrails.support import batch, event, guardrails

RATE = {
    "name": "approvals",
    "kind": "aggregate",
    "statistic": "positive_rate",
    "window": 10,
    "every": 5,
    "min": 0.2,
    "max": 0.6,
}


def labelled(
    labels: Sequence[int | None], scores: Sequence[float | None] | None = None
) -> list[Event]:
    scores = scores or [None] * len(labels)
    return [
        event(i, {}, score=s, label=lab)
        for i, (lab, s) in enumerate(zip(labels, scores, strict=True))
    ]


def run(rails: Guardrails, events: list[Event], cuts: list[int]) -> tuple[list[AggregateHit], dict]:
    """Feed ``events`` in batches ending at ``cuts``; the hits and the summed counts."""
    hits: list[AggregateHit] = []
    counts: dict[str, int] = {}
    start = 0
    for stop in [*cuts, len(events)]:
        result = rails.evaluate(batch(rails, events[start:stop]))
        for hit in result.aggregate:
            # batch_index is relative to its batch: make it comparable across batchings.
            hits.append(hit.__class__(**{**_fields(hit), "batch_index": hit.window_end_index}))
        for rule, count in result.rule_counts.items():
            counts[rule] = counts.get(rule, 0) + count
        start = stop
    return hits, counts


def _fields(hit: AggregateHit) -> dict[str, Any]:
    return {name: getattr(hit, name) for name in hit.__slots__}


def test_fires_when_out_of_bounds_and_resolves_when_back() -> None:
    rails = guardrails([RATE])
    # 30 decisions: windows end after decisions 9, 14, 19, 24, 29 (counted from 0).
    labels = [0, 1] * 5 + [1] * 5 + [1] * 5 + [0, 1] * 5
    result = rails.evaluate(batch(rails, labelled(labels)))
    # 0..9: 5 of 10 inside; 5..14: 8 of 10, fires; 10..19 and 15..24: 10 and 7, still
    # firing; 20..29: 5 of 10, resolves.
    assert [(h.window_end_index, h.value, h.firing) for h in result.aggregate] == [
        (14, 0.8, True),
        (29, 0.5, False),
    ]
    hit = result.aggregate[0]
    assert (hit.rule, hit.statistic, hit.bounds, hit.batch_index) == (
        "approvals",
        "positive_rate",
        (0.2, 0.6),
        14,
    )
    assert result.rule_counts == {"approvals": 3}  # windows ending at 14, 19 and 24
    assert result.review.sum() == 0 and result.hits == [[] for _ in labels]


def test_nothing_is_evaluated_before_a_full_window() -> None:
    rails = guardrails([RATE])
    result = rails.evaluate(batch(rails, labelled([1] * 9)))
    assert result.aggregate == [] and result.rule_counts == {"approvals": 0}
    result = rails.evaluate(batch(rails, labelled([1])))
    assert [(h.window_end_index, h.batch_index, h.firing) for h in result.aggregate] == [
        (9, 0, True)
    ]


def test_positive_from_label_score_or_both() -> None:
    labels = [1, None, 0, None] * 5
    scores = [0.1, 0.9, 0.9, 0.2] * 5
    values = {}
    for positive in ("label_or_score", "label", "score"):
        rule = {**RATE, "positive": positive, "every": 20, "window": 20, "score_threshold": 0.5}
        rails = guardrails([{**rule, "min": 2.0, "max": None}])  # always out of bounds: fires
        values[positive] = rails.evaluate(batch(rails, labelled(labels, scores))).aggregate[0].value
    assert values == {"label_or_score": 0.5, "label": 0.5, "score": 0.5}
    rails = guardrails(
        [
            {
                **RATE,
                "every": 20,
                "window": 20,
                "min": 2.0,
                "max": None,
                "positive": "score",
                "score_threshold": 0.85,
            }
        ]
    )
    assert rails.evaluate(batch(rails, labelled(labels, scores))).aggregate[0].value == 0.5
    rails = guardrails(
        [{**RATE, "every": 20, "window": 20, "min": 2.0, "max": None, "positive_label": 0}]
    )
    # labels 1 and 0 decide where present (0 is positive now), scores 0.9 and 0.2 elsewhere
    assert rails.evaluate(batch(rails, labelled(labels, scores))).aggregate[0].value == 0.5


def test_mean_score_skips_decisions_without_a_score() -> None:
    rule = {
        "name": "mean",
        "kind": "aggregate",
        "statistic": "mean_score",
        "window": 10,
        "max": 0.5,
    }
    rails = guardrails([rule])
    scores = [0.8, None] * 5
    result = rails.evaluate(batch(rails, labelled([None] * 10, scores)))
    assert [(h.value, h.firing) for h in result.aggregate] == [(0.8, True)]
    result = rails.evaluate(batch(rails, labelled([None] * 10, [None] * 10)))
    assert result.aggregate == []  # a window without a score says nothing: still firing
    result = rails.evaluate(batch(rails, labelled([None] * 10, [0.1] * 10)))
    assert [(h.value, h.firing) for h in result.aggregate] == [(pytest.approx(0.1), False)]


def test_missing_rate_of_a_feature() -> None:
    rule = {
        "name": "gaps",
        "kind": "aggregate",
        "statistic": "missing_rate",
        "feature": "age",
        "window": 10,
        "max": 0.25,
    }
    rails = guardrails([rule])
    assert rails.features_used == {"age"}
    events = [event(i, {"age": 30.0} if i % 2 else {}) for i in range(10)]
    events[1] = event(1, None)  # a predictions-only half misses every feature
    result = rails.evaluate(batch(rails, events))
    assert [(h.value, h.firing) for h in result.aggregate] == [(0.6, True)]


SCORE_RULES = [
    {**RATE, "name": "rate", "window": 50, "every": 7, "min": 0.3, "max": 0.7},
    {
        "name": "mean",
        "kind": "aggregate",
        "statistic": "mean_score",
        "window": 40,
        "every": 3,
        "min": 0.35,
        "max": 0.65,
    },
    {
        "name": "gaps",
        "kind": "aggregate",
        "statistic": "missing_rate",
        "feature": "age",
        "window": 30,
        "max": 0.3,
    },
    {"name": "unsure", "kind": "score_band", "low": 0.45, "high": 0.55, "action": "review"},
]


def drifting_events(count: int, seed: int) -> list[Event]:
    """Phases of high and low scores and gaps, so the rules fire and resolve repeatedly."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        high = (i // 150) % 2 == 1
        score = min(1.0, max(0.0, rng.gauss(0.75 if high else 0.45, 0.15)))
        features = {} if rng.random() < (0.5 if high else 0.1) else {"age": 40.0}
        label = None if rng.random() < 0.5 else int(score > 0.5)
        events.append(event(i, features, score=score, label=label))
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batching_does_not_change_the_result(seed: int) -> None:
    events = drifting_events(1200, seed)
    whole, whole_counts = run(guardrails(SCORE_RULES), events, [])
    assert sum(h.firing for h in whole) >= 6 and sum(not h.firing for h in whole) >= 6
    rng = random.Random(seed)
    for _ in range(4):
        cuts = sorted(rng.sample(range(1, len(events)), rng.randint(1, 60)))
        assert run(guardrails(SCORE_RULES), events, cuts) == (whole, whole_counts)
    single = list(range(1, 200))  # one decision at a time, for a while
    assert run(guardrails(SCORE_RULES), events, single) == (whole, whole_counts)


def test_snapshot_and_restore_continue_where_they_left_off() -> None:
    events = drifting_events(900, 7)
    whole, _ = run(guardrails(SCORE_RULES), events, [])
    for cut in (1, 299, 450, 451, 899):
        first = guardrails(SCORE_RULES)
        before, _ = run(first, events[:cut], [])
        # Through JSON and msgpack: the state must survive both encodings unchanged.
        state = json.loads(json.dumps(first.snapshot(), allow_nan=False))
        state = msgspec.msgpack.decode(msgspec.msgpack.encode(state))
        second = guardrails(SCORE_RULES)
        second.restore(state)
        after, _ = run(second, events[cut:], [])
        shifted = [h.__class__(**{**_fields(h), "batch_index": h.window_end_index}) for h in after]
        assert before + shifted == whole


def test_restore_with_changed_rules() -> None:
    first = guardrails(SCORE_RULES)
    run(first, drifting_events(100, 3), [])
    state = first.snapshot()
    resized = [{**SCORE_RULES[0], "window": 20}, {**SCORE_RULES[1], "name": "renamed"}]
    second = guardrails(resized)
    second.restore(state)  # the resized window keeps the last 20, the renamed rule starts afresh
    snapshot = second.snapshot()["aggregates"]
    assert snapshot["rate"]["seen"] == 100 and len(snapshot["rate"]["recent"]) == 20
    assert snapshot["rate"]["recent"] == state["aggregates"]["rate"]["recent"][-20:]
    assert snapshot["renamed"]["seen"] == 0
    with pytest.raises(ValueError, match="state version"):
        second.restore({"version": 99})


def test_a_failing_aggregate_does_not_break_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    rails = guardrails([SCORE_RULES[1], SCORE_RULES[3]])
    monitor = rails._aggregates[0]

    def broken(_: Any) -> np.ndarray:
        raise RuntimeError("boom")

    monkeypatch.setattr(monitor, "decision_values", broken)
    result = rails.evaluate(batch(rails, drifting_events(50, 1)))
    assert result.error_counts == {"mean": 1} and result.aggregate == []
    assert result.rule_counts["unsure"] > 0
