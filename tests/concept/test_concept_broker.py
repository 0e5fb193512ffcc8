"""Concept drift end to end: decisions and late, shuffled labels on two topics of the real
broker, the daemon as a subprocess, alerts read back from the alerts topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.broker import EmbeddedBroker
from monitor.demo.traffic import ConceptChange, TrafficGenerator
from tests.concept.test_concept_pipeline import FEATURES, MODEL, label_stream
from tests.kafkatools import (
    create_topics,
    decode_values,
    produce,
    read_all,
    running_daemon,
    unique,
    write_config,
)

pytestmark = pytest.mark.integration
TOTAL = 60_000


def concept_alerts(broker: EmbeddedBroker, tmp_path: Path, onset: int | None) -> list:
    events, labels, alerts = unique("events"), unique("labels"), unique("alerts")
    create_topics(broker.bootstrap, {events: 1, labels: 1, alerts: 1})
    config_path = tmp_path / "driftd.yaml"
    config = write_config(
        config_path,
        broker.bootstrap,
        {
            "topics": {"features": events, "predictions": None, "labels": labels, "alerts": alerts},
            "labels": {"reorder_seconds": 3.0},
            "kafka": {"consumer": {"group_id": unique("concept")}},
        },
    )
    features = {"x": {"type": "numeric"}, "y": {"type": "numeric"}, "c": {"type": "categorical"}}
    config["models"] = {MODEL: {"features": features}}
    import yaml

    config_path.write_text(yaml.safe_dump(config))
    drifts = [ConceptChange(0.25, onset)] if onset is not None else []
    generator = TrafficGenerator(FEATURES, seed=11, model=MODEL, error_rate=0.05, drifts=drifts)
    key = MODEL.encode()
    stream = [
        (events if t == "events" else labels, key, v) for t, v in label_stream(generator, TOTAL)
    ]
    with running_daemon(config_path, config["server"]["port"], tmp_path / "daemon.log") as daemon:
        daemon.wait_ready()
        produce(broker.bootstrap, stream)
        daemon.wait_for(
            lambda: daemon.metric("driftd_labels_matched_total", {"model": MODEL}) == TOTAL,
            120,
            "all labels matched",
        )
    return [
        a for a in decode_values(read_all(broker.bootstrap, alerts)) if a["kind"] == "concept_drift"
    ]


def test_late_out_of_order_labels_one_concept_alert_near_onset(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    onset = TOTAL // 2
    alerts = concept_alerts(broker, tmp_path, onset)
    assert [a["status"] for a in alerts] == ["firing"]
    change = alerts[0]["change_point"]
    assert onset - 500 <= change["offset"] <= onset + 2000, change
    assert alerts[0]["mean_before"] < 0.1
    assert alerts[0]["mean_after"] > 0.18


def test_no_concept_change_no_concept_alert(broker: EmbeddedBroker, tmp_path: Path) -> None:
    assert concept_alerts(broker, tmp_path, None) == []
