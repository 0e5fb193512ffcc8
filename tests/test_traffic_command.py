"""``driftd traffic`` sends the demo traffic to a config's input topics and stops cleanly.

It runs as a real subprocess on the embedded broker with the compose stack's driftd config
(deploy/driftd.yaml, its broker address swapped); what lands on the topics is then read
back and decoded with driftd's own decoder.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from monitor.broker import EmbeddedBroker
from monitor.config import Config
from monitor.decoder import Decoder
from tests.kafkatools import create_topics, read_all, unique

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
FINISHED = re.compile(
    r"driftd traffic: finished, \d+ s: (\d+) events, (\d+) labels, (\d+) malformed, "
    r"(\d+) send errors"
)


def test_traffic_reaches_every_input_topic(broker: EmbeddedBroker, tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "deploy" / "driftd.yaml").read_text(encoding="utf-8"))
    data["kafka"]["bootstrap_servers"] = [broker.bootstrap]
    for role in ("features", "predictions", "labels"):
        data["topics"][role] = unique(role)
    config_path = tmp_path / "driftd.yaml"
    config_path.write_text(yaml.safe_dump(data))
    topics = data["topics"]
    create_topics(broker.bootstrap, {topics[r]: 2 for r in ("features", "predictions", "labels")})

    options = ["--rate", "150", "--duration", "4", "--drift-after", "1", "--drift-for", "1"]
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "traffic", "-c", str(config_path), *options],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    match = FINISHED.search(result.stdout)
    assert match, result.stdout
    events, labels, malformed, errors = map(int, match.groups())
    assert errors == 0
    assert 300 <= events <= 4 * 150 + 1
    assert 0 < labels < events  # labels come 3 s after their decisions

    config = Config.model_validate(data)
    features = read_all(broker.bootstrap, topics["features"])
    predictions = read_all(broker.bootstrap, topics["predictions"])
    label_records = read_all(broker.bootstrap, topics["labels"])
    assert len(features) + len(predictions) == 2 * events + malformed
    assert len(label_records) == labels
    # Keyed by the model: every record of an input topic in one partition.
    assert {r.key for r in features + predictions + label_records} == {b"credit-risk"}
    assert len({(r.topic, r.partition) for r in features + label_records}) == 2

    decoded, rejected = Decoder(config).decode(features + predictions + label_records)
    assert len(rejected) == malformed
    halves = Counter(
        "features" if e.features is not None else "prediction" if e.prediction else "label"
        for e in decoded
    )
    assert halves == {"features": events, "prediction": events, "label": labels}
