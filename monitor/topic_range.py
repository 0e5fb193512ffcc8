"""Read an offset or time range of Kafka topics with assign() + seek(): no consumer group,
nothing committed. Used by ``driftd replay --topic`` and ``driftd audit verify``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from monitor.errors import KafkaIOError


def parse_position(text: str | None) -> int | float | None:
    """An offset (integer) or an event time (RFC 3339 or epoch seconds with a dot) → value.

    Offsets are returned as ``int``, times as ``float`` epoch seconds.

    >>> parse_position("42"), parse_position("2026-11-28T00:00:00Z")
    (42, 1764288000.0)
    """
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        return float(text) if "." in text and "-" not in text else _rfc3339(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an offset nor a time") from None


def _rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def partition_count(consumer: Any, topics: list[str]) -> dict[str, list[int]]:
    found = {}
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise KafkaIOError(f"topic {topic} does not exist")
        found[topic] = sorted(parts)
    return found


def _resolve(
    consumer: Any, tps: list[TopicPartition], position: int | float | None, default: str
) -> dict[TopicPartition, int]:
    begin = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    if position is None:
        return dict(begin if default == "begin" else end)
    if isinstance(position, int):
        return {tp: min(max(position, begin[tp]), end[tp]) for tp in tps}
    found = consumer.offsets_for_times({tp: int(position * 1000) for tp in tps})
    return {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in tps}


def read_range(
    consumer: Any,
    topics: list[str],
    partitions: list[int] | None,
    start: int | float | None,
    stop: int | float | None,
    timeout_s: float = 30.0,
) -> Iterator[Any]:
    """Records with start <= position < stop, partition by partition, topic by topic."""
    try:
        layout = partition_count(consumer, topics)
        tps = [
            TopicPartition(topic, p)
            for p in sorted({p for parts in layout.values() for p in parts})
            for topic in topics
            if p in layout[topic] and (partitions is None or p in partitions)
        ]
        if not tps:
            return
        first = _resolve(consumer, tps, start, "begin")
        end = _resolve(consumer, tps, None, "end")
        last = _resolve(consumer, tps, stop, "end") if stop is not None else {}
        for tp in tps:
            yield from _read_one(consumer, tp, first[tp], last.get(tp), end[tp], timeout_s)
    except KafkaError as exc:
        raise KafkaIOError(f"cannot read {', '.join(topics)}: {exc}") from exc


def _read_one(
    consumer: Any, tp: TopicPartition, start: int, stop: int | None, end: int, timeout_s: float
) -> Any:
    if stop is not None and start >= stop:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    deadline = time.monotonic() + timeout_s
    while True:
        polled = consumer.poll(timeout_ms=300, max_records=5000)
        if polled:
            deadline = time.monotonic() + timeout_s
        for record in polled.get(tp, []):
            if stop is not None and record.offset >= stop:
                return
            yield record
        # Some Kafka-compatible brokers report the end at the start of the last batch:
        # read on until a poll is empty, whatever the end offset says.
        if not polled and consumer.position(tp) >= (end if stop is None else min(stop, end)):
            return
        if time.monotonic() > deadline:
            raise KafkaIOError(f"timed out reading {tp.topic}[{tp.partition}]")
