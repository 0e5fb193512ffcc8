"""Crash equivalence: a run killed with ``kill -9`` at random points and restarted each
time ends in the same alerts and the same state as an uninterrupted run on the same input;
a run stopped with SIGTERM and restarted re-sends nothing."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

from monitor.broker import EmbeddedBroker
from tests.kafkatools import DaemonProcess, create_topics, unique
from tests.reliability.helpers import (
    WARMUP,
    WINDOW,
    caught_up,
    daemon_config,
    final_states,
    keyed_stream,
    log_lines,
    models_for_partitions,
    produce_keyed,
    read_alerts,
    signature,
    wait_caught_up,
    window_progress,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 2
PER_MODEL = 30_250  # not a multiple of the window: the last window stays open
MAX_POLL_RECORDS = 500
CHECKPOINT_RECORDS = 2000
KILLS = 5
SEED = 20_251_128


@dataclass
class Input:
    topic: str
    models: list[str]
    counts: dict[int, int]


@dataclass
class Run:
    group: str
    alerts: list[dict[str, Any]]
    states: dict[int, Any]
    logs: list[dict[str, Any]]


@pytest.fixture(scope="module")
def stream(broker: EmbeddedBroker) -> Input:
    models = models_for_partitions(PARTITIONS)
    topic = unique("events")
    create_topics(broker.bootstrap, {topic: PARTITIONS})
    counts = produce_keyed(broker.bootstrap, topic, keyed_stream(models, PER_MODEL))
    assert counts == dict.fromkeys(range(PARTITIONS), PER_MODEL)
    return Input(topic, models, counts)


def configure(
    broker: EmbeddedBroker, stream: Input, directory: Path
) -> tuple[Path, dict[str, Any]]:
    directory.mkdir(parents=True, exist_ok=True)
    alerts, group = unique("alerts"), unique("crash")
    create_topics(broker.bootstrap, {alerts: 1})
    path = directory / "driftd.yaml"
    config = daemon_config(
        path,
        broker.bootstrap,
        stream.models,
        {
            "topics": {"features": stream.topic, "predictions": None, "alerts": alerts},
            "kafka": {
                "consumer": {
                    "group_id": group,
                    "max_poll_records": MAX_POLL_RECORDS,
                    "session_timeout_ms": 3000,
                    "heartbeat_interval_ms": 1000,
                }
            },
            "checkpoint": {"interval_seconds": 1.0, "max_records": CHECKPOINT_RECORDS},
        },
    )
    return path, config


def finish(broker: EmbeddedBroker, stream: Input, config: dict[str, Any], log: Path) -> Run:
    group = config["kafka"]["consumer"]["group_id"]
    return Run(
        group,
        read_alerts(broker.bootstrap, config["topics"]["alerts"]),
        final_states(broker.bootstrap, group, range(PARTITIONS)),
        log_lines(log),
    )


@pytest.fixture(scope="module")
def uninterrupted(
    broker: EmbeddedBroker, stream: Input, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    directory = tmp_path_factory.mktemp("uninterrupted")
    path, config = configure(broker, stream, directory)
    daemon = DaemonProcess(path, config["server"]["port"], directory / "daemon.log").start()
    try:
        wait_caught_up(
            broker.bootstrap,
            config["kafka"]["consumer"]["group_id"],
            stream.topic,
            stream.counts,
            120,
            [daemon],
        )
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    finally:
        daemon.stop()
    run = finish(broker, stream, config, directory / "daemon.log")
    # The stream is long enough to fire and to resolve on every model.
    statuses = Counter((a["model"], a["status"]) for a in run.alerts if a["kind"] == "data_drift")
    for model in stream.models:
        assert statuses[(model, "firing")] >= 3 and statuses[(model, "resolved")] >= 3, statuses
    return run


def assert_same_outcome(run: Run, reference: Run, stream: Input) -> None:
    # The same alerts (each once, whatever duplicates a replay produced).
    assert {signature(a) for a in run.alerts} == {signature(a) for a in reference.alerts}
    # The last alert of every key carries the same statistics as in the reference.
    last = {a["dedup_key"]: a for a in run.alerts}
    last_ref = {a["dedup_key"]: a for a in reference.alerts}
    assert last.keys() == last_ref.keys()
    for key, alert in last.items():
        differing = {
            field: (alert.get(field), last_ref[key].get(field))
            for field in alert.keys() | last_ref[key].keys()
            if alert.get(field) != last_ref[key].get(field)
        }
        assert not differing, f"{key}: {differing}"
    # The final state of every task is the uninterrupted run's, offsets included: window
    # counters, the open window's rows, the detectors' and the alert policy's state.
    assert run.states.keys() == reference.states.keys()
    for task, (offsets, state) in run.states.items():
        ref_offsets, ref_state = reference.states[task]
        assert offsets == ref_offsets == {stream.topic: stream.counts[task]}
        assert state == ref_state, f"task {task}: final state differs from the uninterrupted run"
    # Every event counted exactly once: windows closed * size + rows of the open window ==
    # events after the warm-up, and the open window holds exactly the newest offsets.
    for task, (_, state) in run.states.items():
        model = stream.models[task]
        streams = state["models"][model]["streams"]
        assert len(streams) == 1
        ((index, open_offsets),) = window_progress(state).values()
        assert index * WINDOW + len(open_offsets) == PER_MODEL - WARMUP
        assert open_offsets == list(range(PER_MODEL - len(open_offsets), PER_MODEL))


def test_kill_9_at_random_points_ends_like_an_uninterrupted_run(
    broker: EmbeddedBroker, stream: Input, uninterrupted: Run, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    path, config = configure(broker, stream, tmp_path)
    group = config["kafka"]["consumer"]["group_id"]
    log = tmp_path / "daemon.log"
    kills = 0
    while True:
        daemon = DaemonProcess(path, config["server"]["port"], log).start()
        try:
            if kills < KILLS:
                # Kill once this process has read a random number of records (replays
                # count), plus a random delay, so kills also land inside checkpoints.
                threshold = rng.randrange(1000, 6000)
                daemon.wait_for(
                    lambda d=daemon, t=threshold: (
                        (d.metric("driftd_records_consumed_total") or 0) >= t
                    ),
                    90,
                    f"past {threshold} records",
                )
                time.sleep(rng.random() * 0.3)
                daemon.kill()
                kills += 1
                assert not caught_up(broker.bootstrap, group, stream.topic, stream.counts), (
                    "the input ran out before every kill: lower the kill thresholds"
                )
                continue
            # The last start: committed offsets reach the end even for a task restored
            # from a checkpoint whose commit a kill prevented.
            wait_caught_up(broker.bootstrap, group, stream.topic, stream.counts, 120, [daemon])
            daemon.signal(signal.SIGTERM)
            assert daemon.wait(20) == 0
            break
        finally:
            daemon.stop()
    run = finish(broker, stream, config, log)
    restores = [e for e in run.logs if e.get("event") == "task_restored"]
    assert sum(1 for e in restores if e["from_checkpoint"]) >= KILLS  # state came back each time

    assert_same_outcome(run, uninterrupted, stream)

    # Duplicates are re-sends of identical alerts, from the replayed records only: within
    # one checkpoint interval (max_records, plus the batch that crossed it) of a restore.
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    duplicates = []
    for alert in run.alerts:
        key = signature(alert)
        if key in seen:
            assert alert == seen[key], "a re-sent alert differs"
            duplicates.append(alert)
        seen[key] = alert
    replay_span = CHECKPOINT_RECORDS + MAX_POLL_RECORDS
    restored_at = [
        (e["task"], e["offsets"][stream.topic])
        for e in restores
        if e["from_checkpoint"] and stream.topic in e["offsets"]
    ]
    for alert in duplicates:
        end: dict[str, Any] = alert.get("window", {}).get("end") or alert["detected_at"]
        assert any(
            task == end["partition"] and start <= end["offset"] < start + replay_span
            for task, start in restored_at
        ), f"duplicate outside any replayed span: {signature(alert)}"
    assert len(duplicates) <= KILLS * len({signature(a) for a in run.alerts})


def test_sigterm_at_a_random_point_resends_nothing(
    broker: EmbeddedBroker, stream: Input, uninterrupted: Run, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    path, config = configure(broker, stream, tmp_path)
    group = config["kafka"]["consumer"]["group_id"]
    log = tmp_path / "daemon.log"
    # Stop inside the drifted stretch, where alerts are being raised.
    threshold = rng.randrange(20_000, 30_000)
    first = DaemonProcess(path, config["server"]["port"], log).start()
    first.wait_for(
        lambda: (first.metric("driftd_records_consumed_total") or 0) >= threshold, 90, "busy"
    )
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0
    assert not caught_up(broker.bootstrap, group, stream.topic, stream.counts)
    second = DaemonProcess(path, config["server"]["port"], log).start()
    try:
        wait_caught_up(broker.bootstrap, group, stream.topic, stream.counts, 120, [second])
        second.signal(signal.SIGTERM)
        assert second.wait(20) == 0
    finally:
        second.stop()
    run = finish(broker, stream, config, log)
    assert_same_outcome(run, uninterrupted, stream)
    # Nothing re-sent: every alert exactly once, as in the uninterrupted run.
    assert Counter(map(signature, run.alerts)) == Counter(map(signature, uninterrupted.alerts))
    assert len(run.alerts) == len(uninterrupted.alerts), "alerts were re-sent after SIGTERM"


def test_restore_commits_offsets_a_kill_left_behind(
    broker: EmbeddedBroker, stream: Input, uninterrupted: Run, tmp_path: Path
) -> None:
    """A kill between a checkpoint and its commit leaves the group's offsets behind the
    state. The next owner restores the checkpoint and commits its offsets, so that lag
    tools see the truth even if the partitions stay idle."""
    group = uninterrupted.group
    rewind = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        tps = [TopicPartition(stream.topic, p) for p in range(PARTITIONS)]
        rewind.assign(tps)
        rewind.commit({tp: OffsetAndMetadata(1000, "", -1) for tp in tps})
    finally:
        rewind.close(autocommit=False)
    assert not caught_up(broker.bootstrap, group, stream.topic, stream.counts)
    path, config = configure(broker, stream, tmp_path)
    config["kafka"]["consumer"]["group_id"] = group
    config["topics"]["alerts"] = unique("alerts")
    path.write_text(yaml.safe_dump(config))
    daemon = DaemonProcess(path, config["server"]["port"], tmp_path / "daemon.log").start()
    try:
        wait_caught_up(broker.bootstrap, group, stream.topic, stream.counts, 60, [daemon])
        assert (daemon.metric("driftd_records_consumed_total") or 0) == 0  # nothing replayed
    finally:
        daemon.stop()
