"""Fairness and champion-challenger end to end: decisions with protected attributes on the
real broker, ``driftd run`` as a subprocess, the alert read back from the alerts topic and
the gauges from /metrics."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from monitor.broker import EmbeddedBroker
from tests.fairness.streams import CHALLENGER, MODEL, approvals, event_json, model_config
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
WINDOW = 500
N = 10 * WINDOW
CHANGE = N // 2


def test_fairness_alert_on_the_alerts_topic_and_gauges_on_metrics(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    events, alerts_topic = unique("events"), unique("alerts")
    create_topics(broker.bootstrap, {events: 1, alerts_topic: 1})
    config_path = tmp_path / "driftd.yaml"
    config = write_config(
        config_path,
        broker.bootstrap,
        {
            "topics": {"features": events, "predictions": None, "alerts": alerts_topic},
            "kafka": {"consumer": {"group_id": unique("fairness")}},
        },
    )
    config["models"] = {
        MODEL: model_config(
            fairness={"attributes": {"gender": "attribute"}, "window": WINDOW},
            challenger={"model": CHALLENGER, "window": WINDOW},
        ),
        CHALLENGER: model_config(),
    }
    config_path.write_text(yaml.safe_dump(config))
    stream = approvals(
        N, {"f": 0.5, "m": 0.5}, {"f": 0.5, "m": 0.5}, seed=41, change_at=CHANGE,
        rates_after={"f": 0.3},
    )  # fmt: skip
    rng = np.random.default_rng(42)
    flipped = rng.random(N) < 0.1
    challenger = dataclasses.replace(
        stream, approved=np.where(flipped, 1 - stream.approved, stream.approved)
    )
    key = MODEL.encode()
    messages = []
    for i in range(N):
        messages.append((events, key, event_json(i, stream)))
        messages.append((events, key, event_json(i, challenger, CHALLENGER)))
    with running_daemon(config_path, config["server"]["port"], tmp_path / "daemon.log") as daemon:
        daemon.wait_ready()
        produce(broker.bootstrap, messages)
        daemon.wait_for(
            lambda: (
                daemon.metric(
                    "driftd_fairness_windows_total", {"model": MODEL, "kind": "decisions"}
                )
                == N // WINDOW
            ),
            60,
            "every fairness window evaluated",
        )
        group = {"model": MODEL, "attribute": "gender"}
        last = slice(N - WINDOW, N)
        for name in ("f", "m"):
            rows = stream.groups[last] == name
            expected = stream.approved[last][rows].mean()
            reported = daemon.metric("driftd_fairness_positive_rate", {**group, "group": name})
            assert reported == pytest.approx(expected)
        di = daemon.metric("driftd_fairness_disparate_impact", group)
        assert di is not None and not math.isnan(di) and di < 0.8
        assert daemon.metric("driftd_alerts_firing", {"model": MODEL, "kind": "fairness"}) == 1
        agreement = daemon.metric(
            "driftd_challenger_agreement_rate", {"model": MODEL, "challenger": CHALLENGER}
        )
        assert agreement == pytest.approx(1 - flipped[last].mean())
        log = daemon.log_path.read_text()
    alerts = decode_values(read_all(broker.bootstrap, alerts_topic))
    fairness = [a for a in alerts if a["kind"] == "fairness"]
    assert [a["status"] for a in fairness] == ["firing"]
    assert fairness[0]["lowest_group"] == "f"
    assert fairness[0]["window"]["index"] in (CHANGE // WINDOW, CHANGE // WINDOW + 1)
    # Raw attribute values appear in alerts and metric labels (bounded), never in logs.
    assert '"f"' not in log and "gender" not in log
