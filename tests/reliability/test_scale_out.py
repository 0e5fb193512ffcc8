"""Scale-out: three daemons in one group share a 6-partition input; one is killed with
``kill -9`` mid-stream, its tasks move to the others with their state, and the outcome is
a single process's on the same input."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.broker import EmbeddedBroker, free_port
from tests.kafkatools import DaemonProcess, create_topics, unique
from tests.reliability.helpers import (
    daemon_config,
    final_states,
    keyed_stream,
    log_lines,
    log_time,
    models_for_partitions,
    produce_keyed,
    read_alerts,
    signature,
    wait_caught_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6
PER_MODEL = 12_000
WARMUP = 2000
MAX_POLL_INTERVAL_MS = 10_000
LISTENER_SLOW = re.compile(r"Rebalance listener _Rebalance\.(\w+) .* took ([0-9.]+)s")


def configure(broker: EmbeddedBroker, topic: str, models: list[str], path: Path) -> dict[str, Any]:
    alerts, group = unique("alerts"), unique("scale")
    create_topics(broker.bootstrap, {alerts: 1})
    return daemon_config(
        path,
        broker.bootstrap,
        models,
        {
            "topics": {"features": topic, "predictions": None, "alerts": alerts},
            "kafka": {
                "consumer": {
                    "group_id": group,
                    "max_poll_records": 500,
                    "session_timeout_ms": 3000,
                    "heartbeat_interval_ms": 1000,
                    "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
                }
            },
            "checkpoint": {"interval_seconds": 1.0, "max_records": 2000},
        },
        warmup=WARMUP,
    )


def member(config: dict[str, Any], directory: Path, name: str) -> DaemonProcess:
    """A daemon of the same group with a probe port of its own."""
    own = {**config, "server": {"host": "127.0.0.1", "port": free_port()}}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(own))
    return DaemonProcess(path, own["server"]["port"], directory / f"{name}.log")


def test_kill_9_of_one_member_moves_its_tasks_with_their_state(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    models = models_for_partitions(PARTITIONS)
    topic = unique("events")
    create_topics(broker.bootstrap, {topic: PARTITIONS})
    messages = keyed_stream(models, PER_MODEL, seed=11, chunk=250)
    half = len(messages) // 2
    config = configure(broker, topic, models, tmp_path / "group.yaml")
    group = config["kafka"]["consumer"]["group_id"]
    daemons = [member(config, tmp_path, f"member-{i}") for i in range(3)]
    # The reference: the same input through one process of another group, uninterrupted,
    # running alongside.
    single = configure(broker, topic, models, tmp_path / "single.yaml")
    single_group = single["kafka"]["consumer"]["group_id"]
    alone = DaemonProcess(
        tmp_path / "single.yaml", single["server"]["port"], tmp_path / "single.log"
    )
    try:
        alone.start()
        for daemon in daemons:
            daemon.start()
        for daemon in daemons:  # the group settled: every member owns two tasks
            daemon.wait_for(
                lambda d=daemon: (
                    d.metric("driftd_assigned_partitions") == 2 and d.http("/readyz")[0] == 200
                ),
                90,
                "owning two tasks",
            )
        first = produce_keyed(broker.bootstrap, topic, messages[:half])
        wait_caught_up(broker.bootstrap, group, topic, first, 60, daemons)

        # The rest arrives while the daemons run; one member dies in the middle of it.
        victim, survivors = daemons[1], [daemons[0], daemons[2]]
        before = victim.metric("driftd_records_consumed_total") or 0
        rest: dict[int, int] = {}
        producer = threading.Thread(
            target=lambda: rest.update(produce_keyed(broker.bootstrap, topic, messages[half:]))
        )
        producer.start()
        victim.wait_for(
            lambda: (victim.metric("driftd_records_consumed_total") or 0) >= before + 1500,
            60,
            "processing the second half",
        )
        killed_at = time.time()
        victim.kill()
        producer.join(120)
        assert not producer.is_alive()
        counts = {p: first.get(p, 0) + rest.get(p, 0) for p in range(PARTITIONS)}
        assert counts == dict.fromkeys(range(PARTITIONS), PER_MODEL)
        wait_caught_up(broker.bootstrap, group, topic, counts, 120, survivors)
        for daemon in survivors:
            assert daemon.metric("driftd_assigned_partitions") == 3
            # Every checkpoint, the revoke ones included, took well under the poll interval.
            total = daemon.metric("driftd_checkpoint_duration_seconds_count")
            fast = daemon.metric("driftd_checkpoint_duration_seconds_bucket", {"le": "2.5"})
            assert total and fast == total
        stopping_at = time.time()
        for daemon in survivors:
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
        wait_caught_up(broker.bootstrap, single_group, topic, counts, 120, [alone])
        alone.signal(signal.SIGTERM)
        assert alone.wait(20) == 0
    finally:
        for daemon in [*daemons, alone]:
            daemon.stop()

    # The revoke path (the rebalance listener checkpoints the revoked tasks on a worker
    # thread while kafka-python's network thread stays free) is quick: kafka-python logs a
    # listener call over 1 s, and none comes near max_poll_interval_ms; each survivor is
    # assigned its tasks again within the rebalance (which waits for the dead member's
    # session to expire); no survivor was evicted ("partitions_lost").
    limit = MAX_POLL_INTERVAL_MS / 1000
    for daemon in survivors:
        lines = log_lines(daemon.log_path)
        assert not [e for e in lines if e.get("event") == "partitions_lost"]
        for entry in lines:
            slow = LISTENER_SLOW.search(str(entry.get("event")))
            if slow:
                assert float(slow.group(2)) < limit / 4, entry["event"]
        revoked = [e for e in lines if e.get("event") == "partitions_revoked"]
        assert [e for e in revoked if log_time(e) >= killed_at], "no rebalance after the kill"
        for entry in revoked:
            if log_time(entry) > stopping_at:
                continue  # revoked by the shutdown: nothing is assigned again
            assigned = [
                e
                for e in lines
                if e.get("event") == "partitions_assigned" and log_time(e) >= log_time(entry)
            ]
            assert assigned, "revoked but never assigned again"
            gap = log_time(assigned[0]) - log_time(entry)
            assert gap < limit, f"rebalance took {gap:.1f} s"
        restored = [
            e for e in lines if e.get("event") == "task_restored" and log_time(e) >= killed_at
        ]
        assert any(e["from_checkpoint"] for e in restored)
    # The victim's tasks were taken over from its checkpoints.
    victim_tasks = {
        task
        for e in log_lines(victim.log_path)
        if e.get("event") == "task_restored"
        for task in [e["task"]]
    }
    taken_over = {
        e["task"]
        for daemon in survivors
        for e in log_lines(daemon.log_path)
        if e.get("event") == "task_restored" and log_time(e) >= killed_at and e["from_checkpoint"]
    }
    assert victim_tasks and victim_tasks <= taken_over

    alerts = read_alerts(broker.bootstrap, config["topics"]["alerts"])
    states = final_states(broker.bootstrap, group, range(PARTITIONS))

    reference = read_alerts(broker.bootstrap, single["topics"]["alerts"])
    assert {a["model"] for a in reference if a["status"] == "resolved"} == set(models)
    assert {signature(a) for a in alerts} == {signature(a) for a in reference}
    reference_states = final_states(broker.bootstrap, single_group, range(PARTITIONS))
    for task in range(PARTITIONS):
        assert states[task] == reference_states[task], f"task {task} differs"
