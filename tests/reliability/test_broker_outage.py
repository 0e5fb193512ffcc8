"""The broker stops answering (SIGSTOP for 60 s, then SIGCONT), and the daemon process is
frozen for longer than ``max_poll_interval_ms`` + the session timeout: nothing is lost,
no event is counted twice in the windows, and the daemon comes back by itself."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor

from monitor.broker import EmbeddedBroker
from tests.kafkatools import DaemonProcess, create_topics, decode_values, read_all, unique
from tests.reliability.helpers import (
    WINDOW,
    daemon_config,
    final_states,
    keyed_stream,
    log_lines,
    models_for_partitions,
    produce_keyed,
    wait_caught_up,
    window_progress,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 2
PER_MODEL = 12_000
WARMUP = 1000
FREEZE_S = 60


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test alone: freezing the session's would stall other tests."""
    with EmbeddedBroker() as running:
        yield running


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def setup(
    broker: EmbeddedBroker, directory: Path, **kafka: Any
) -> tuple[dict[str, Any], list[str], str]:
    models = models_for_partitions(PARTITIONS)
    topic, joined, alerts, group = unique("events"), unique("joined"), unique("alerts"), unique("g")
    create_topics(broker.bootstrap, {topic: PARTITIONS, joined: 1, alerts: 1})
    config = daemon_config(
        directory / "driftd.yaml",
        broker.bootstrap,
        models,
        {
            "topics": {
                "features": topic,
                "predictions": None,
                "alerts": alerts,
                "joined": joined,
            },
            "kafka": merged({"consumer": {"group_id": group, "max_poll_records": 500}}, kafka),
            "checkpoint": {"interval_seconds": 1.0, "max_records": 2000},
        },
        warmup=WARMUP,
    )
    return config, models, topic


def assert_counted_once(
    broker: EmbeddedBroker, config: dict[str, Any], models: list[str], counts: dict[int, int]
) -> None:
    """Every event in the windows exactly once (final checkpoint), and in the joined
    output at least once with every duplicate a replay of a record after a checkpoint."""
    group = config["kafka"]["consumer"]["group_id"]
    states = final_states(broker.bootstrap, group, range(PARTITIONS))
    for task, (_, state) in states.items():
        ((index, open_offsets),) = window_progress(state).values()
        total = counts[task]
        assert index * WINDOW + len(open_offsets) == total - WARMUP
        assert open_offsets == list(range(total - len(open_offsets), total))
    joined = decode_values(read_all(broker.bootstrap, config["topics"]["joined"], 60))
    ids = Counter((e["model"], e["id"]) for e in joined)
    expected = {(m, f"{m}-{i}") for p, m in enumerate(models) for i in range(counts[p])}
    assert set(ids) == expected  # nothing lost


def test_broker_frozen_for_a_minute(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    broker = own_broker
    # A delivery timeout of 10 s (default 30 s): a flush waits at most that long for the
    # frozen broker before the checkpoint fails, the task rewinds and the probe runs.
    config, models, topic = setup(
        broker, tmp_path, producer={"delivery_timeout_seconds": 10, "request_timeout_ms": 5000}
    )
    messages = keyed_stream(models, PER_MODEL, seed=5, chunk=250)
    half = len(messages) // 2
    daemon = DaemonProcess(tmp_path / "driftd.yaml", config["server"]["port"], tmp_path / "d.log")
    daemon.start()
    try:
        daemon.wait_ready()
        first = produce_keyed(broker.bootstrap, topic, messages[:half])
        # Freeze while the daemon is in the middle of the first half.
        daemon.wait_for(
            lambda: (daemon.metric("driftd_records_consumed_total") or 0) >= 3000, 60, "busy"
        )
        assert broker.process is not None
        os.kill(broker.process.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        ready_seen: list[float] = []
        not_ready_seen: list[float] = []
        health: list[int] = []
        try:
            while time.monotonic() - frozen_at < FREEZE_S:
                ready = daemon.http("/readyz", timeout=5)[0]
                (ready_seen if ready == 200 else not_ready_seen).append(time.monotonic())
                health.append(daemon.http("/healthz", timeout=5)[0])
                time.sleep(0.5)
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        consumed_at_resume = daemon.metric("driftd_records_consumed_total") or 0
        assert set(health) == {200}, Counter(health)
        assert not_ready_seen, "/readyz never reported the broker unreachable"
        # The probe runs on the main loop, which may wait out one delivery timeout (10 s)
        # in a checkpoint's flush before it can notice.
        assert not_ready_seen[0] - frozen_at < 10 + 10
        daemon.wait_for(lambda: daemon.http("/readyz")[0] == 200, 30, "ready again")
        rest = produce_keyed(broker.bootstrap, topic, messages[half:])
        counts = {p: first.get(p, 0) + rest.get(p, 0) for p in range(PARTITIONS)}
        group = config["kafka"]["consumer"]["group_id"]
        # Processing resumes within 30 s of SIGCONT.
        daemon.wait_for(
            lambda: (
                (daemon.metric("driftd_records_consumed_total") or 0) >= consumed_at_resume + 2000
            ),
            max(1.0, 30 - (time.monotonic() - resumed_at)),
            "processing again",
        )
        wait_caught_up(broker.bootstrap, group, topic, counts, 120, [daemon])
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        daemon.stop()
    assert_counted_once(broker, config, models, counts)
    events = [e.get("event") for e in log_lines(tmp_path / "d.log")]
    assert "pipeline_error" not in events


def evict_frozen_members(bootstrap: str, group: str, topic: str, timeout_s: float) -> set[int]:
    """Join ``group`` with a plain consumer: the coordinator rebalances, waits for the
    frozen member up to its rebalance timeout (max_poll_interval_ms), evicts it and gives
    this consumer every partition. It leaves without committing anything."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        partition_assignment_strategy=(RangePartitionAssignor,),
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_records=1,
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=500)
            parts = {tp.partition for tp in consumer.assignment()}
            if len(parts) == PARTITIONS:
                return parts
        return {tp.partition for tp in consumer.assignment()}
    finally:
        consumer.close(autocommit=False)


def test_daemon_frozen_longer_than_max_poll_interval_rejoins(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """SIGSTOP of the daemon for longer than max_poll_interval_ms + the session timeout
    while another member joins: the frozen member is evicted; after SIGCONT it rejoins,
    restores its tasks from their checkpoints and loses nothing."""
    config, models, topic = setup(
        broker,
        tmp_path,
        consumer={
            "max_poll_interval_ms": 6000,
            "session_timeout_ms": 3000,
            "heartbeat_interval_ms": 1000,
        },
    )
    consumer = config["kafka"]["consumer"]
    group = consumer["group_id"]
    frozen_s = (consumer["max_poll_interval_ms"] + consumer["session_timeout_ms"]) / 1000 + 2
    messages = keyed_stream(models, PER_MODEL, seed=6, chunk=250)
    half = len(messages) // 2
    daemon = DaemonProcess(tmp_path / "driftd.yaml", config["server"]["port"], tmp_path / "d.log")
    daemon.start()
    try:
        daemon.wait_ready()
        first = produce_keyed(broker.bootstrap, topic, messages[:half])
        daemon.wait_for(
            lambda: (daemon.metric("driftd_records_consumed_total") or 0) >= 3000, 60, "busy"
        )
        daemon.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            rest = produce_keyed(broker.bootstrap, topic, messages[half:])
            taken = evict_frozen_members(broker.bootstrap, group, topic, 40)
            assert taken == set(range(PARTITIONS)), "the frozen member was not evicted"
            time.sleep(max(0.0, frozen_s - (time.monotonic() - stopped_at)))
        finally:
            daemon.signal(signal.SIGCONT)
        counts = {p: first.get(p, 0) + rest.get(p, 0) for p in range(PARTITIONS)}
        wait_caught_up(broker.bootstrap, group, topic, counts, 120, [daemon])
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            daemon.signal(signal.SIGCONT)
        daemon.stop()
    events = [e.get("event") for e in log_lines(tmp_path / "d.log")]
    # Evicted: its tasks were given up (lost: nothing written for them) and, rejoined,
    # assigned and restored from their checkpoints again.
    assert "partitions_lost" in events or "partitions_revoked" in events, events
    assert events.count("partitions_assigned") >= 2
    restored = [e for e in log_lines(tmp_path / "d.log") if e.get("event") == "task_restored"]
    assert sum(1 for e in restored if e["from_checkpoint"]) >= PARTITIONS
    assert_counted_once(broker, config, models, counts)
