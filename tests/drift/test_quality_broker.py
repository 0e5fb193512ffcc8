"""Detection quality end to end: training data → `driftd baseline` → daemon subprocess on
the real broker → alerts topic. 500 000 events per stream, windows of 5 000, defaults."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.broker import EmbeddedBroker
from monitor.demo.traffic import TrafficGenerator
from tests.drift.streams import DRIFTED, MODEL, drifts_at, model_config, quality_features
from tests.kafkatools import (
    create_topics,
    decode_values,
    produce,
    read_all,
    running_daemon,
    unique,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOTAL = 500_000
WINDOW = 5000
ONSET = TOTAL // 2


def training_csv(path: Path, rows: int = 100_000) -> None:
    generator = TrafficGenerator(quality_features(), seed=101, model=MODEL)
    batch = generator.batch(rows)
    names = [spec.name for spec in generator.features] + ["score"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        columns = [list(batch[name]) for name in names]
        writer.writerows(zip(*columns, strict=True))


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A config declaring the features, and the profile `driftd baseline` builds for it."""
    base = tmp_path_factory.mktemp("quality")
    config_path = base / "model.yaml"
    config_path.write_text(yaml.safe_dump({"models": model_config(quality_features())}))
    train = base / "train.csv"
    training_csv(train)
    out = base / "profile.json"
    command = [
        sys.executable,
        "-m",
        "monitor",
        "baseline",
        "--model",
        MODEL,
        "--input",
        str(train),
        "--out",
        str(out),
        "-c",
        str(config_path),
        "--score-column",
        "score",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return config_path, out


def stream_alerts(broker: EmbeddedBroker, tmp_path: Path, profile_path: Path, drifts: list) -> list:
    topic, alerts, group = unique("events"), unique("alerts"), unique("quality")
    create_topics(broker.bootstrap, {topic: 1, alerts: 1})
    config_path = tmp_path / "driftd.yaml"
    config = write_config(
        config_path,
        broker.bootstrap,
        {
            "topics": {"features": topic, "predictions": None, "alerts": alerts},
            "kafka": {"consumer": {"group_id": group}},
            "checkpoint": {"interval_seconds": 5.0},
        },
    )
    config["models"] = model_config(quality_features(), reference={"profile": str(profile_path)})
    config_path.write_text(yaml.safe_dump(config))
    generator = TrafficGenerator(quality_features(), seed=202, model=MODEL, drifts=drifts)
    key = MODEL.encode()
    with running_daemon(config_path, config["server"]["port"], tmp_path / "daemon.log") as daemon:
        daemon.wait_ready()
        for _ in range(TOTAL // 50_000):
            values = generator.encode_events(generator.batch(50_000))
            produce(broker.bootstrap, ((topic, key, v) for v in values))
        labels = {"model": MODEL, "segment": "", "window": f"tumbling-{WINDOW}"}
        daemon.wait_for(
            lambda: daemon.metric("driftd_windows_evaluated_total", labels) == TOTAL / WINDOW,
            300,
            "done with every window",
        )
        assert daemon.metric_total("driftd_dead_letters_total") == 0
        assert daemon.metric("driftd_reference_info", {"model": MODEL, "source": "profile"}) == 1
    return decode_values(read_all(broker.bootstrap, alerts))


def test_stationary_500k_events_raise_no_alert(
    broker: EmbeddedBroker, tmp_path: Path, profile: tuple[Path, Path]
) -> None:
    assert stream_alerts(broker, tmp_path, profile[1], []) == []


def test_three_drifts_alert_within_two_windows_and_nothing_else(
    broker: EmbeddedBroker, tmp_path: Path, profile: tuple[Path, Path]
) -> None:
    alerts = stream_alerts(broker, tmp_path, profile[1], drifts_at(ONSET))
    firing = [a for a in alerts if a["status"] == "firing" and a["kind"] == "data_drift"]
    assert {a["feature"] for a in firing} == DRIFTED, [a["dedup_key"] for a in alerts]
    for alert in firing:
        assert alert["window"]["end"]["offset"] < ONSET + 2 * WINDOW, alert["dedup_key"]
        assert alert["reference"]["source"] == "profile"
    # Drift persists to the end of the stream: nothing resolves, no dataset-level alert
    # (3 of 23 features is below the 0.5 share).
    assert all(a["status"] == "firing" for a in alerts)
    assert {a["kind"] for a in alerts} == {"data_drift"}
    keys = [a["dedup_key"] for a in alerts]
    assert len(keys) == len(set(keys))
