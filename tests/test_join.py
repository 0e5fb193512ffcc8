"""The bounded event-time join."""

from __future__ import annotations

import random

import msgspec
import pytest

from monitor.events import Event, Scalar
from monitor.join import JoinBuffer


def half(i: int, ts: float, part: str, model: str = "m") -> Event:
    features: dict[str, Scalar] | None = {"x": float(i)} if part == "f" else None
    prediction: dict[str, Scalar] | None = {"score": 0.5} if part == "p" else None
    return Event(model, f"e{i}", ts, None, features, prediction, None, part, 0, i)


def test_out_of_order_halves_join_once() -> None:
    rng = random.Random(0)
    halves = [half(i, 1000.0 + i, part) for i in range(500) for part in "fp"]
    rng.shuffle(halves)
    join = JoinBuffer(ttl_seconds=10_000, max_pending=10_000)
    completed = []
    for start in range(0, len(halves), 37):
        result = join.add(halves[start : start + 37])
        assert not result.expired
        completed.extend(result.completed)
    assert sorted(int(e.id[1:]) for e in completed) == list(range(500))
    assert all(e.is_complete and e.features == {"x": float(e.id[1:])} for e in completed)
    assert len(join) == 0


def test_halves_expire_by_event_time() -> None:
    join = JoinBuffer(ttl_seconds=60, max_pending=100)
    assert join.add([half(1, 1000.0, "f"), half(2, 1030.0, "p")]).expired == []
    result = join.add([half(3, 1061.0, "f")])  # watermark 1061: e1 (1000) is older than the TTL
    assert [e.id for e in result.expired] == ["e1"]
    assert len(join) == 2
    result = join.add([half(2, 1095.0, "f")])  # completes e2 just in time, e3 stays
    assert [e.id for e in result.completed] == ["e2"] and result.expired == []


def test_memory_is_bounded() -> None:
    join = JoinBuffer(ttl_seconds=1e9, max_pending=100)
    result = join.add(half(i, 1000.0 + i, "f") for i in range(1000))
    assert len(join) == 100
    assert [e.id for e in result.expired] == [f"e{i}" for i in range(900)]  # oldest first
    assert len(join._heap) <= 2 * 100 + 1024


def test_duplicate_halves_are_counted_not_joined() -> None:
    join = JoinBuffer(ttl_seconds=100, max_pending=10)
    result = join.add([half(1, 1.0, "f"), half(1, 1.0, "f"), half(1, 1.0, "p")])
    assert result.duplicates == 1 and [e.id for e in result.completed] == ["e1"]


def test_snapshot_restores_the_same_future() -> None:
    halves = [half(i, 1000.0 + i, part) for i in range(200) for part in "fp"]
    random.Random(1).shuffle(halves)
    first, rest = halves[:150], halves[150:]
    original = JoinBuffer(ttl_seconds=30, max_pending=50)
    original.add(first)
    blob = msgspec.msgpack.encode(original.snapshot())
    copy = JoinBuffer(ttl_seconds=30, max_pending=50)
    copy.restore(msgspec.msgpack.decode(blob))
    a, b = original.add(rest), copy.add(rest)
    assert [e.id for e in a.completed] == [e.id for e in b.completed]
    assert [e.id for e in a.expired] == [e.id for e in b.expired]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        JoinBuffer(ttl_seconds=0, max_pending=1)
    with pytest.raises(ValueError):
        JoinBuffer(ttl_seconds=1, max_pending=0)
