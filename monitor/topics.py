"""The topics the daemon needs before it can start — inputs that exist and are
co-partitioned, a compacted state topic with a partition per task — and, once running,
its lag on them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka.errors import KafkaError

from monitor.config import Config
from monitor.errors import KafkaIOError
from monitor.kafka_io import ensure_topics
from monitor.metrics import Metrics


def wait_for_inputs(
    consumer: Any,
    inputs: Sequence[str],
    should_exit: Callable[[], bool],
    waiting: Callable[[list[str]], None],
    timeout_s: float = 60.0,
) -> int:
    """The inputs' common partition count, once every input topic exists."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = {t: consumer.partitions_for_topic(t) for t in inputs}
        missing = [t for t, parts in counts.items() if not parts]
        if not missing:
            break
        if time.monotonic() > deadline or should_exit():
            raise KafkaIOError(f"input topics do not exist: {', '.join(missing)}")
        waiting(missing)
        time.sleep(1.0)
    sizes = {t: len(parts) for t, parts in counts.items()}
    if len(set(sizes.values())) != 1:
        raise KafkaIOError(f"input topics must have the same number of partitions: {sizes}")
    return next(iter(sizes.values()))


def ensure_state_topic(config: Config, consumer: Any, partitions: int) -> bool:
    """Create the compacted state topic if missing; True when it was created."""
    topic = config.state_topic
    have = consumer.partitions_for_topic(topic)
    if have:
        if len(have) < partitions:
            detail = f"has {len(have)} partitions, needs {partitions}"
            raise KafkaIOError(f"state topic {topic} {detail}")
        return False
    compacted = {"cleanup.policy": "compact"}
    return bool(ensure_topics(config, {topic: partitions}, topic_configs=compacted))


def measure_lag(consumer: Any, owned: set[int], probe_topic: str, metrics: Metrics) -> bool:
    """Set the lag gauge of every owned partition; False when the broker does not answer."""
    assignment = list(consumer.assignment())
    metrics.assigned_partitions.set(len(assignment))
    try:
        ends = consumer.end_offsets(assignment, timeout_ms=1500) if assignment else {}
        if not assignment:
            consumer.partitions_for_topic(probe_topic)
    except KafkaError:
        return False
    for tp, end in ends.items():
        if tp.partition in owned:
            position = consumer.position(tp, timeout_ms=500)
            metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, end - position))
    return True
