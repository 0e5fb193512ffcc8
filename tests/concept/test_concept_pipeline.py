"""Concept drift through the real pipeline in process: labels joined late and out of order."""

from __future__ import annotations

import msgspec
import numpy as np
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.demo.traffic import ConceptChange, FeatureSpec, TrafficGenerator
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

MODEL = "credit-risk"
FEATURES = [
    FeatureSpec.normal("x", 0.0, 1.0, weight=1.0),
    FeatureSpec.uniform("y", 0.0, 1.0, weight=0.5),
    FeatureSpec.categorical("c", {"a": 0.5, "b": 0.5}),
]


def label_stream(generator: TrafficGenerator, total: int, seed: int = 3) -> list[tuple[str, bytes]]:
    """Decisions as they happen; each label 1 000-3 000 events later, shuffled."""
    rng = np.random.default_rng(seed)
    decisions = generator.batch(total)
    events = generator.encode_events(decisions)
    labels = generator.encode_labels(decisions, delay_seconds=2.0)
    arrival = np.arange(total) + rng.integers(1000, 3000, total)
    timeline: list[tuple[float, str, bytes]] = [
        (float(i), "events", v) for i, v in enumerate(events)
    ]
    timeline += [(float(a) + 0.5, "labels", v) for a, v in zip(arrival, labels, strict=True)]
    timeline.sort(key=lambda item: item[0])
    return [(topic, value) for _, topic, value in timeline]


def run(total: int, onset: int | None, **concept: object):
    drifts = [ConceptChange(0.25, onset)] if onset is not None else []
    generator = TrafficGenerator(FEATURES, seed=11, model=MODEL, error_rate=0.05, drifts=drifts)
    features = {"x": {"type": "numeric"}, "y": {"type": "numeric"}, "c": {"type": "categorical"}}
    config = Config.model_validate(
        {
            "topics": {"features": "events", "predictions": None, "labels": "labels"},
            # Synthetic time runs at 1 000 events/s; labels come 1-3 s late.
            "labels": {"reorder_seconds": 3.0},
            "models": {MODEL: {"features": features, "concept": concept}},
        }
    )
    metrics = Metrics(CollectorRegistry())
    pipeline = Pipeline(config, metrics, now=lambda: 1_800_000_000.0)
    offsets = {"events": 0, "labels": 0}
    alerts = []
    stream = label_stream(generator, total)
    for start in range(0, len(stream), 4000):
        records = []
        for topic, value in stream[start : start + 4000]:
            records.append(FileRecord(topic, 0, offsets[topic], 1_764_300_000_000, value))
            offsets[topic] += 1
        for output in pipeline.process(records):
            if output.topic == config.topics.alerts:
                alerts.append(msgspec.json.decode(output.value))
    return [a for a in alerts if a["kind"] == "concept_drift"], metrics


def test_error_rate_jump_gives_one_alert_near_the_onset() -> None:
    onset = 30_000
    alerts, metrics = run(60_000, onset)
    firing = [a for a in alerts if a["status"] == "firing"]
    assert len(firing) == 1, alerts
    alert = firing[0]
    assert alert["signal"] == "error" and alert["test"] == "adwin"
    # The decision offset of the estimated change point: within 2 000 labelled events.
    assert onset - 500 <= alert["change_point"]["offset"] <= onset + 2000, alert["change_point"]
    assert alert["mean_before"] < 0.1 and alert["mean_after"] > 0.18
    assert alert["detector"]["params"]["delta"] == 0.002
    assert (
        metrics.registry.get_sample_value("driftd_labels_matched_total", {"model": MODEL}) > 50_000
    )


def test_no_concept_change_no_alert() -> None:
    alerts, metrics = run(60_000, None)
    assert alerts == []
    unmatched = metrics.registry.get_sample_value(
        "driftd_labels_unmatched_total", {"model": MODEL, "reason": "unknown"}
    )
    assert unmatched in (None, 0.0)


def test_alert_resolves_after_the_quiet_period() -> None:
    alerts, _ = run(60_000, 20_000, quiet_seconds=10.0)
    assert [a["status"] for a in alerts] == ["firing", "resolved"]
