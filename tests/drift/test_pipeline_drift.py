"""Data-drift detection through the real pipeline, in process (the broker tests follow)."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.demo.traffic import TrafficGenerator
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord
from tests.drift.streams import DRIFTED, MODEL, drifts_at, model_config, quality_features

TOPIC = "driftd.features"
MILLIS = 1_764_300_000_000


def run(total: int, drift_start: int | None, warmup: int = 10_000, **model_extra: object):
    features = quality_features()
    drifts = drifts_at(drift_start) if drift_start is not None else []
    generator = TrafficGenerator(features, seed=7, model=MODEL, drifts=drifts)
    config = Config.model_validate(
        {"models": model_config(features, reference={"warmup_events": warmup}, **model_extra)}
    )
    metrics = Metrics(CollectorRegistry())
    pipeline = Pipeline(config, metrics, now=lambda: 1_800_000_000.0)
    alerts = []
    offset = 0
    while offset < total:
        batch = generator.batch(min(5000, total - offset))
        records = [
            FileRecord(TOPIC, 0, offset + i, MILLIS, v)
            for i, v in enumerate(generator.encode_events(batch))
        ]
        offset += len(records)
        for output in pipeline.process(records):
            if output.topic == config.topics.alerts:
                alerts.append(msgspec.json.decode(output.value))
    return alerts, metrics, pipeline


def test_stationary_stream_raises_no_alert() -> None:
    alerts, metrics, _ = run(160_000, None)
    assert alerts == []
    windows = metrics.registry.get_sample_value(
        "driftd_windows_evaluated_total", {"model": MODEL, "segment": "", "window": "tumbling-5000"}
    )
    assert windows == 30  # (160 000 - 10 000 warm-up) / 5 000


def test_drift_fires_for_exactly_the_drifted_features() -> None:
    onset = 60_000
    alerts, _, _ = run(100_000, onset)
    firing = [a for a in alerts if a["status"] == "firing" and a["kind"] == "data_drift"]
    assert {a["feature"] for a in firing} == DRIFTED
    for alert in firing:
        # Within two windows of the onset: the window ending at onset + 2 * 5000 events.
        assert alert["window"]["end"]["offset"] < onset + 2 * 5000, alert["dedup_key"]
        assert alert["drift_started"]["offset"] >= onset - 5000
    assert all(a["model"] == MODEL and a["severity"] in ("warning", "critical") for a in firing)


@pytest.mark.parametrize(
    "window",
    [
        {"type": "sliding", "size": 5000, "hop": 2500},
        {"type": "event_time", "seconds": 5.0, "allowed_lateness_seconds": 1.0},
    ],
)
def test_other_window_kinds_detect_and_stay_quiet(window: dict[str, object]) -> None:
    alerts, _, _ = run(50_000, None, windows=[window])
    assert alerts == []
    alerts, _, _ = run(60_000, 35_000, windows=[window])
    assert {a["feature"] for a in alerts if a["kind"] == "data_drift"} == DRIFTED
