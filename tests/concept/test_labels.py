"""The label join: matching in any order, event-time release, bounds."""

from __future__ import annotations

import random

import lz4.frame
import msgspec
import pytest

from monitor.events import Event, Scalar
from monitor.labels import LabelJoin, LabelOutcome


def decision(i: int, score: float = 0.9) -> Event:
    return Event("m", f"e{i}", 1000.0 + i, None, {"x": 1.0}, {"score": score}, None, "d", 0, i)


def label(i: int, value: float) -> Event:
    return Event("m", f"e{i}", 1000.0 + i + 5, None, None, None, value, "l", 0, i)


def join(**overrides: object) -> LabelJoin:
    options: dict = {
        "ttl_seconds": 1000.0,
        "max_pending": 100,
        "reorder_seconds": 0.0,
        "regression": set(),
        "thresholds": {},
    }
    return LabelJoin(**{**options, **overrides})


def test_labels_before_their_decisions_match_when_the_decisions_come() -> None:
    labels = join()
    assert labels.add_labels([label(1, 1.0), label(2, 0.0)]).matched == {}
    labels.add_decisions([decision(1), decision(2)])
    assert labels.has_work
    outcome = labels.add_labels([])  # no new label needed
    assert outcome.matched == {"m": 2}
    assert [item.error for item in outcome.released["m"]] == [0.0, 1.0]  # score 0.9 -> label 1


def test_errors_are_released_in_decision_time_order() -> None:
    labels = join(reorder_seconds=10.0)
    labels.add_decisions([decision(i) for i in range(30)])
    outcome = labels.add_labels([label(i, 1.0) for i in (25, 3, 17, 8, 29, 0)])
    released = [item.ts for item in outcome.released.get("m", [])]
    assert released == sorted(released) and released[-1] <= 1029 - 10


def test_unknown_and_expired_labels_are_counted() -> None:
    labels = join(ttl_seconds=10.0, reorder_seconds=1.0)
    labels.add_decisions([decision(0)])
    labels.add_decisions([decision(50)])  # e0 expires: older than the TTL
    counted: dict[tuple[str, str], int] = {}
    for batch in ([label(0, 1.0), label(999, 1.0)], []):
        for key, count in labels.add_labels(batch).unmatched.items():
            counted[key] = counted.get(key, 0) + count
        labels.add_decisions([decision(2000)])
    assert counted == {("m", "expired"): 1, ("m", "unknown"): 1}


def test_pending_decisions_are_bounded() -> None:
    labels = join(max_pending=10)
    labels.add_decisions([decision(i) for i in range(1000)])
    assert len(labels.decisions) == 10


def test_errors_waiting_for_the_reorder_horizon_are_bounded_when_event_time_goes_back() -> None:
    # Event time that wraps round (a looped replay, a clock reset) never passes the
    # horizon of what was matched before it: without a bound those errors would wait
    # for ever, one more every round.
    labels = join(max_pending=50, reorder_seconds=100.0)
    released: list[float] = []
    matched = 0
    for _ in range(20):
        batch = [decision(i) for i in range(40)]
        labels.add_decisions(batch)
        outcome = labels.add_labels([label(i, 1.0) for i in range(40)])
        matched += outcome.matched["m"]
        released += [item.ts for item in outcome.released.get("m", [])]
        assert len(labels._heap) <= 50
    assert matched == 20 * 40
    assert len(released) + len(labels._heap) == matched  # every error released once
    assert released[:10] == sorted(released[:10])  # the oldest go first


def test_waiting_decisions_survive_a_checkpoint_in_every_format() -> None:
    before = join()
    before.add_decisions([decision(i, score=0.2 + 0.1 * (i % 2)) for i in range(5)])
    state = msgspec.msgpack.decode(msgspec.msgpack.encode(before.snapshot()))
    items = [
        (key, [d.ts, d.predicted, d.partition, d.offset]) for key, d in before.decisions.items()
    ]
    # The earlier formats: one map {[model, id]: [ts, predicted, partition, offset]}; before
    # it a list of [[model, id], fields] pairs; and first one flat list per decision.
    whole = dict(items)
    pairs = [[list(key), fields] for key, fields in items]
    flat = [[m, i, *fields] for (m, i), fields in items]
    # Then segments: that map LZ4-compressed (with a segment number in the fields), the
    # first entry expired since (dropped 1) and one left by label (a gone key).
    expired = (("m", "expired"), [1.0, "0", 0, 0, 0])
    labelled = (("m", "labelled"), [999.0, "1", 0, 99, 0])
    first = dict([expired, *items[:2], labelled])
    map_segments = [
        [lz4.frame.compress(msgspec.msgpack.encode(first)), 1, [[list(labelled[0])]]],
        [lz4.frame.compress(msgspec.msgpack.encode(dict(items[2:]))), 0, []],
    ]
    for decisions in (state["decisions"], map_segments, whole, pairs, flat):
        after = join()
        after.restore({**state, "decisions": decisions})
        assert list(after.decisions) == [("m", f"e{i}") for i in range(5)]
        outcome = after.add_labels([label(i, 0.0) for i in range(5)])
        assert outcome.matched == {"m": 5}
        errors = [item.error for item in outcome.released["m"]]
        assert errors == [0.0, 0.0, 0.0, 0.0, 0.0]  # predicted 0 (score < 0.5), truth 0


@pytest.mark.parametrize("seed", range(5))
def test_batches_join_like_one_decision_at_a_time(seed: int) -> None:
    """Whole batches of new decisions go in at once; re-sent ones, repeats within a batch,
    decisions early labels wait for and ones without a prediction take the one-by-one
    path. Both must reach the same outcome as feeding every decision singly."""
    rng = random.Random(seed)
    batched, single = (
        join(max_pending=60, reorder_seconds=3.0),
        join(max_pending=60, reorder_seconds=3.0),
    )
    for step in range(300):
        if rng.random() < 0.6:
            batch = []
            for _ in range(rng.randrange(1, 12)):
                i = rng.randrange(step * 3, step * 3 + 40)  # repeats and re-sends happen
                score = None if rng.random() < 0.03 else rng.random()
                prediction: dict[str, Scalar] | None = None if score is None else {"score": score}
                batch.append(Event("m", f"e{i}", 1000.0 + i, None, {}, prediction, None, "d", 0, i))
            batched.add_decisions(batch)
            for event in batch:
                single.add_decisions([event])
        else:
            labels = [label(rng.randrange(step * 3, step * 3 + 45), 1.0) for _ in range(3)]
            assert outcome_of(batched.add_labels(labels)) == outcome_of(single.add_labels(labels))
        assert state_of(batched) == state_of(single)


def state_of(labels: LabelJoin) -> tuple[object, ...]:
    """What a checkpoint restores (chunks may be cut differently)."""
    saved = msgspec.msgpack.decode(msgspec.msgpack.encode(labels.snapshot()))
    restored = join()
    restored.restore(saved)
    waiting = [(k, d.ts, d.predicted, d.partition, d.offset) for k, d in restored.decisions.items()]
    return waiting, {k: v for k, v in saved.items() if k != "decisions"}


def outcome_of(outcome: LabelOutcome) -> tuple[object, ...]:
    released = {
        m: [(i.ts, i.error, i.offset) for i in items] for m, items in outcome.released.items()
    }
    return released, outcome.matched, outcome.unmatched, outcome.late
