"""In process: the pipeline's outputs and state do not depend on how the input is cut into
batches, nor on a restore from a snapshot followed by a replay. This is what makes a
crash (restore the last checkpoint, replay from its offsets) equivalent to no crash."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord
from tests.reliability.helpers import keyed_stream, model_section, models_for_partitions

MILLIS = 1_764_300_000_000

TOPIC = "driftd.features"
NOW = 1_800_000_000.0
PER_MODEL = 20_300


def records() -> list[FileRecord]:
    """Two models, each keyed into its own partition, offsets per partition."""
    models = models_for_partitions(2)
    out, next_offset = [], [0, 0]
    for key, value in keyed_stream(models, PER_MODEL):
        partition = models.index(key.decode())
        out.append(FileRecord(TOPIC, partition, next_offset[partition], MILLIS, value, key))
        next_offset[partition] += 1
    return out


def config() -> Config:
    models = models_for_partitions(2)
    return Config.model_validate(
        {"topics": {"features": TOPIC, "predictions": None}, "models": model_section(models)}
    )


def new_pipeline() -> Pipeline:
    return Pipeline(config(), Metrics(CollectorRegistry()), now=lambda: NOW)


def alerts_of(outputs: Sequence[Any]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(o.value) for o in outputs if o.topic == "driftd.alerts"]


def run_batched(
    stream: list[FileRecord], sizes: Sequence[int]
) -> tuple[list[dict[str, Any]], Pipeline]:
    pipeline, alerts, position, i = new_pipeline(), [], 0, 0
    while position < len(stream):
        size = sizes[i % len(sizes)]
        i += 1
        alerts += alerts_of(pipeline.process(stream[position : position + size]))
        position += size
    return alerts, pipeline


def run_with_crashes(stream: list[FileRecord], seed: int) -> tuple[list[dict[str, Any]], Pipeline]:
    """Like the daemon: checkpoint now and then; at a crash, the records processed since the
    last checkpoint are processed again by a new pipeline restored from it."""
    rng = random.Random(seed)
    pipeline = new_pipeline()
    checkpoint: dict[int, tuple[int, bytes | None]] = {0: (0, None), 1: (0, None)}
    alerts: list[dict[str, Any]] = []
    position = 0
    while position < len(stream):
        size = rng.randrange(1, 900)
        alerts += alerts_of(pipeline.process(stream[position : position + size]))
        position += size
        if rng.random() < 0.3:  # checkpoint: the position is where each partition stands
            for task in (0, 1):
                done = [r.offset for r in stream[:position] if r.partition == task]
                checkpoint[task] = (max(done) + 1 if done else 0, pipeline.snapshot(task))
        elif rng.random() < 0.05:  # crash: a new process restores and seeks
            pipeline = new_pipeline()
            for task, (_, blob) in checkpoint.items():
                pipeline.restore(task, blob)
            position = min(
                i for i, r in enumerate(stream) if r.offset >= checkpoint[r.partition][0]
            )
    return alerts, pipeline


def per_model(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Alerts in order per model: across tasks (partitions) no order is defined."""
    out: dict[str, list[dict[str, Any]]] = {}
    for alert in alerts:
        out.setdefault(alert["model"], []).append(alert)
    return out


def signature(alert: dict[str, Any]) -> tuple[Any, ...]:
    window = alert.get("window") or {}
    return (alert["dedup_key"], alert["status"], window.get("index"), str(alert.get("detected_at")))


@pytest.fixture(scope="module")
def stream() -> list[FileRecord]:
    return records()


@pytest.fixture(scope="module")
def reference(stream: list[FileRecord]) -> tuple[list[dict[str, Any]], Pipeline]:
    return run_batched(stream, [5000])


def states(pipeline: Pipeline) -> dict[int, Any]:
    return {task: msgspec.msgpack.decode(pipeline.snapshot(task)) for task in (0, 1)}


@pytest.mark.parametrize("sizes", [[1, 7, 333], [500], [4999, 2]])
def test_batching_changes_nothing(
    stream: list[FileRecord], reference: tuple[list[dict[str, Any]], Pipeline], sizes: list[int]
) -> None:
    alerts, pipeline = run_batched(stream, sizes)
    ref_alerts, ref_pipeline = reference
    data = [a for a in alerts if a["kind"] != "concept_drift"]
    ref_data = [a for a in ref_alerts if a["kind"] != "concept_drift"]
    assert per_model(data) == per_model(ref_data)
    assert states(pipeline) == states(ref_pipeline)
    assert sorted(map(signature, alerts)) == sorted(map(signature, ref_alerts))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_restore_and_replay_changes_nothing(
    stream: list[FileRecord], reference: tuple[list[dict[str, Any]], Pipeline], seed: int
) -> None:
    alerts, pipeline = run_with_crashes(stream, seed)
    ref_alerts, ref_pipeline = reference
    assert states(pipeline) == states(ref_pipeline)
    # Replays re-send alerts, identical ones; the set of alerts is the reference's.
    unique = {msgspec.json.encode(a) for a in alerts if a["kind"] != "concept_drift"}
    ref_unique = {msgspec.json.encode(a) for a in ref_alerts if a["kind"] != "concept_drift"}
    assert unique == ref_unique
    assert {signature(a) for a in alerts} == {signature(a) for a in ref_alerts}


def test_concept_alerts_do_not_depend_on_batching(
    stream: list[FileRecord], reference: tuple[list[dict[str, Any]], Pipeline]
) -> None:
    alerts, _ = run_batched(stream, [1, 7, 333])
    concept = [a for a in alerts if a["kind"] == "concept_drift"]
    ref_concept = [a for a in reference[0] if a["kind"] == "concept_drift"]
    assert concept and per_model(concept) == per_model(ref_concept)
