"""The timed consume loop shared by the bare client and the floors: same settings, same
clock (from the first fetched batch to the last record)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from kafka import KafkaConsumer

from monitor import heap
from monitor.config import Config
from monitor.kafka_io import consumer_options


class Rate(NamedTuple):
    """A consumer's records per second (wall clock) and the CPU it spent per record: the
    time of every thread of this process (the client's network thread, pyarrow's parser
    threads), in µs. Their product is the cores the consumer kept busy."""

    per_second: float
    cpu_us: float

    @classmethod
    def measured(cls, records: int, wall: float, cpu: float) -> Rate:
        return cls(records / wall, cpu / records * 1e6)


def consume_rate(
    config: Config,
    topics: Sequence[str],
    expected: int,
    group_prefix: str,
    on_batch: Callable[[str, list[Any]], None],
    drain: Callable[[], None] | None = None,
) -> Rate:
    """Consume ``expected`` records of ``topics`` with driftd's consumer settings, handing
    each partition's records to ``on_batch(topic, records)``. ``drain``, if
    given, waits for work ``on_batch`` handed elsewhere: the clock stops after it."""
    heap.settle()  # the collector settings driftd's daemon runs with: the same for all
    options = consumer_options(config.kafka)
    options["group_id"] = f"{group_prefix}-{time.time_ns()}"
    consumer = KafkaConsumer(**options)
    try:
        consumer.subscribe(list(topics))
        seen, first, first_cpu = 0, None, 0.0
        max_records = config.kafka.consumer.max_poll_records
        deadline = time.monotonic() + 600
        while seen < expected and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=200, max_records=max_records)
            if not batch:
                continue
            if first is None:
                first, first_cpu = time.perf_counter(), time.process_time()
            for tp, records in batch.items():
                on_batch(tp.topic, records)
                seen += len(records)
        assert first is not None
        if drain is not None:
            drain()
        wall, cpu = time.perf_counter() - first, time.process_time() - first_cpu
        return Rate.measured(seen, wall, cpu)
    finally:
        consumer.close()
