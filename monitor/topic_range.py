"""Read an offset or time range of Kafka topics with assign() + seek(): no consumer group,
nothing committed. Used by ``driftd replay --topic`` and ``driftd audit verify``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from monitor.errors import KafkaIOError


def parse_position(text: str | None) -> int | float | None:
    """An offset (integer) or an event time (RFC 3339 or epoch seconds with a dot) → value.

    Offsets are returned as ``int``, times as ``float`` epoch seconds.

    >>> parse_position("42"), parse_position("2026-11-28T00:00:00Z")
    (42, 1795824000.0)
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
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # a time without offset is UTC, never the host's zone
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


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
) -> dict[TopicPartition, int | None]:
    """Offsets of ``position`` per partition; ``None`` means the partition's true end."""
    begin = consumer.beginning_offsets(tps)
    end = consumer.end_offsets(tps)
    if position is None:
        return dict(begin) if default == "begin" else dict.fromkeys(tps)
    if isinstance(position, int):
        return {tp: min(max(position, begin[tp]), end[tp]) for tp in tps}
    found = consumer.offsets_for_times({tp: int(position * 1000) for tp in tps})
    # No record at or after the time: Kafka answers None; some compatible brokers answer
    # an offset with timestamp -1. Either way the position is the end.
    return {
        tp: found[tp].offset if found.get(tp) and found[tp].timestamp >= 0 else None for tp in tps
    }


def read_range(
    consumer: Any,
    topics: list[str],
    partitions: list[int] | None,
    start: int | float | None,
    stop: int | float | None,
    timeout_s: float = 30.0,
) -> Iterator[Any]:
    """Records with start <= position < stop, one partition number at a time.

    The topics' partitions of one number are read together and each poll's records are
    yielded topic by topic in the order given, as the daemon hands a poll to the pipeline,
    so split feature and prediction topics meet in the join as they do live.
    """
    try:
        layout = partition_count(consumer, topics)
        numbers = sorted({p for parts in layout.values() for p in parts})
        for number in numbers:
            if partitions is not None and number not in partitions:
                continue
            tps = [TopicPartition(t, number) for t in topics if number in layout[t]]
            yield from _read_partition(consumer, tps, start, stop, timeout_s)
    except KafkaError as exc:
        raise KafkaIOError(f"cannot read {', '.join(topics)}: {exc}") from exc


def _read_partition(
    consumer: Any,
    tps: list[TopicPartition],
    start: int | float | None,
    stop: int | float | None,
    timeout_s: float,
) -> Iterator[Any]:
    begin = _resolve(consumer, tps, start, "begin")
    end = consumer.end_offsets(tps)
    # Without a stop (or past the last record), read to the true end: some Kafka-compatible
    # brokers report the end at the start of the last batch, so read until a poll is empty.
    last = _resolve(consumer, tps, stop, "end")
    first: dict[TopicPartition, int] = {}
    limit: dict[TopicPartition, int] = {}
    active = []
    for tp in tps:
        start_at, stop_at = begin[tp], last[tp]
        first[tp] = int(end[tp]) if start_at is None else start_at
        limit[tp] = int(end[tp]) if stop_at is None else min(stop_at, int(end[tp]))
        if stop_at is None or first[tp] < stop_at:
            active.append(tp)
    if not active:
        return
    consumer.assign(active)
    for tp in active:
        consumer.seek(tp, first[tp])
    deadline = time.monotonic() + timeout_s
    done: set[TopicPartition] = set()
    while True:
        polled = consumer.poll(timeout_ms=300, max_records=5000)
        if polled:
            deadline = time.monotonic() + timeout_s
        for tp in active:
            for record in polled.get(tp, []):
                stop_at = last[tp]
                if stop_at is not None and record.offset >= stop_at:
                    consumer.pause(tp)  # past --to: fetch no more of it
                    done.add(tp)
                    break
                yield record
        if not polled and all(tp in done or consumer.position(tp) >= limit[tp] for tp in active):
            consumer.resume(*done)
            return
        if time.monotonic() > deadline:
            raise KafkaIOError(f"timed out reading {', '.join(t.topic for t in active)}")
