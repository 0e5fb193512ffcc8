"""kill -9 between two checkpoints: the restarted daemon restores the task's chain head
from its checkpoint, processes the rest again and re-sends the same audit records;
`driftd audit verify` counts them as re-sends and finds the chain intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from monitor.audit_verify import Stored, verify
from monitor.broker import EmbeddedBroker, free_port
from tests.governance.test_hot_reload import MODEL, config_with, events
from tests.kafkatools import FAST_GROUP, DaemonProcess, create_topics, produce, read_all, unique

pytestmark = pytest.mark.integration


def test_kill_9_resends_are_recognised(broker: EmbeddedBroker, tmp_path: Path) -> None:
    bootstrap = broker.bootstrap
    features, review, audit = unique("features"), unique("review"), unique("audit")
    create_topics(bootstrap, {features: 1, review: 1})
    port = free_port()
    base: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "consumer": {**FAST_GROUP, "group_id": unique("g")},
        },
        "topics": {
            "features": features,
            "predictions": None,
            "review": review,
            "alerts": unique("alerts"),
            "dead_letter": unique("dlq"),
        },
        "audit": {"enabled": True, "topic": audit},
        # A checkpoint after the first 100 records, then none until the kill.
        "checkpoint": {"interval_seconds": 3600, "max_records": 100},
        "server": {"host": "127.0.0.1", "port": port},
        "logging": {"format": "json"},
        "models": {
            MODEL: {
                "features": {
                    "income": {"type": "numeric"},
                    "age": {"type": "numeric"},
                    "region": {"type": "categorical"},
                }
            }
        },
    }
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump(config_with(base, 100.0)))
    incomes = [50.0, 150.0] * 60  # every other decision is held for review

    daemon = DaemonProcess(path, port, tmp_path / "first.log").start()
    try:
        daemon.wait_ready()
        produce(bootstrap, events(features, 0, incomes))
        daemon.wait_for(lambda: daemon.metric_total("driftd_checkpoints_total") >= 1, 30, "ckpt")
        produce(bootstrap, events(features, 120, incomes[:40]))
        daemon.wait_for(
            lambda: daemon.metric_total("driftd_records_consumed_total") >= 160, 30, "consumed"
        )
        daemon.wait_for(lambda: len(read_all(bootstrap, review)) == 80, 20, "reviewed")
        assert daemon.metric_total("driftd_checkpoints_total") == 1
    finally:
        daemon.kill()

    again = DaemonProcess(path, port, tmp_path / "second.log").start()
    try:
        again.wait_ready()
        again.wait_for(lambda: len(read_all(bootstrap, review)) == 100, 40, "re-processed")
    finally:
        again.stop()
    assert again.process is not None and again.wait(5) == 0

    records = read_all(bootstrap, audit)
    decisions = [msgspec.json.decode(r.value) for r in records]
    decisions = [d for d in decisions if d["kind"] == "decision"]
    assert len(decisions) == 100  # 80, then the 20 after the checkpoint once more
    assert len({d["audit_id"] for d in decisions}) == 80
    result = verify(Stored(str(r.offset), r.value) for r in records)
    assert result.ok, result.summary()
    assert result.resends == 20
    assert result.chains[f"{base['kafka']['consumer']['group_id']}/task/0"] == 79

    # Dropping one of the originals is still a break, re-sends or not.
    values = [Stored(str(r.offset), r.value) for r in records]
    first_decision = next(
        i for i, r in enumerate(records) if msgspec.json.decode(r.value)["kind"] == "decision"
    )
    broken = verify(values[: first_decision + 5] + values[first_decision + 6 :]).broken
    assert broken is not None and "missing" in broken.reason
