"""Config hot reload on a real daemon: SIGHUP with a valid config applies it between
batches (new guardrail bound, audit record); an invalid config and a change of a
restart-only key are rejected with the error logged, and the old config keeps running."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from monitor.audit_verify import Stored, verify
from monitor.broker import EmbeddedBroker, free_port
from tests.kafkatools import (
    FAST_GROUP,
    DaemonProcess,
    create_topics,
    produce,
    read_all,
    unique,
)

pytestmark = pytest.mark.integration
MODEL = "credit-risk"


def events(topic: str, start: int, incomes: list[float]) -> list[tuple[str, bytes, bytes]]:
    out = []
    for i, income in enumerate(incomes, start):
        body = {
            "id": f"e{i}",
            "model": MODEL,
            "ts": 1_764_300_000.0 + i,
            "features": {"income": income, "age": 40.0, "region": "eu"},
            "prediction": {"score": 0.5},
        }
        out.append((topic, MODEL.encode(), json.dumps(body).encode()))
    return out


def config_with(base: dict[str, Any], income_max: float) -> dict[str, Any]:
    config = json.loads(json.dumps(base))
    config["models"][MODEL]["guardrails"] = [
        {
            "name": "income-cap",
            "kind": "range",
            "feature": "income",
            "max": income_max,
            "action": "review",
        }
    ]
    return config


def log_events(daemon: DaemonProcess, name: str) -> list[dict[str, Any]]:
    entries = []
    for line in daemon.log_path.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == name:
                entries.append(entry)
    return entries


def test_sighup_reload_applies_valid_and_rejects_invalid(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = broker.bootstrap
    features, review, audit = unique("features"), unique("review"), unique("audit")
    create_topics(bootstrap, {features: 1, review: 1})
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
        "reload": {"watch_seconds": 0.5},
        "server": {"host": "127.0.0.1", "port": free_port()},
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
    incomes = [50.0, 80.0, 120.0, 150.0]  # above 100: two; above 60: three
    daemon = DaemonProcess(path, base["server"]["port"], tmp_path / "daemon.log").start()

    def consumed(n: int) -> None:
        daemon.wait_for(
            lambda: daemon.metric_total("driftd_records_consumed_total") >= n, 60, f"{n} consumed"
        )

    def reviewed() -> list[str]:
        return [msgspec.json.decode(r.value)["id"] for r in read_all(bootstrap, review)]

    try:
        daemon.wait_ready()
        produce(bootstrap, events(features, 0, incomes))
        consumed(4)
        daemon.wait_for(lambda: len(reviewed()) == 2, 20, "reviewing 2")

        # A valid new config: the cap drops to 60, applied on SIGHUP.
        path.write_text(yaml.safe_dump(config_with(base, 60.0)))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(lambda: log_events(daemon, "reload_applied"), 20, "reloaded")
        produce(bootstrap, events(features, 4, incomes))
        consumed(8)
        daemon.wait_for(lambda: len(reviewed()) == 5, 20, "reviewing 5")
        assert reviewed() == ["e2", "e3", "e5", "e6", "e7"]

        # Invalid: an unknown key. Rejected, logged with its key; the cap stays at 60.
        broken = config_with(base, 10.0)
        broken["models"][MODEL]["policy"] = {"consecutive_windowz": 1}
        path.write_text(yaml.safe_dump(broken))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(lambda: log_events(daemon, "reload_rejected"), 20, "rejecting")
        problems = log_events(daemon, "reload_rejected")[0]["problems"]
        assert any("consecutive_windowz" in p and "unknown key" in p for p in problems)

        # A restart-only key, noticed by the file watch (no signal): rejected too.
        moved = config_with(base, 10.0)
        moved["topics"]["review"] = unique("elsewhere")
        path.write_text(yaml.safe_dump(moved))
        daemon.wait_for(lambda: len(log_events(daemon, "reload_rejected")) == 2, 20, "watching")
        second = log_events(daemon, "reload_rejected")[1]
        assert second["trigger"] == "file_changed"
        assert any("topics needs a restart" in p for p in second["problems"])

        produce(bootstrap, events(features, 8, incomes))
        consumed(12)
        daemon.wait_for(lambda: len(reviewed()) == 8, 20, "reviewing 8")
        assert reviewed()[5:] == ["e9", "e10", "e11"]
    finally:
        daemon.stop()
    assert daemon.wait(5) == 0

    records = [msgspec.json.decode(r.value) for r in read_all(bootstrap, audit)]
    control = [r for r in records if r["kind"] == "config"]
    assert [r["action"] for r in control] == [
        "loaded",
        "reload_accepted",
        "reload_rejected",
        "reload_rejected",
    ]
    assert control[0]["config_hash"] != control[1]["config_hash"]
    assert control[1]["config_hash"] == control[2]["config_hash"] == control[3]["config_hash"]
    assert control[2]["subject"]["trigger"] == "sighup"
    decisions = [r for r in records if r["kind"] == "decision"]
    assert [d["rule"]["guardrails"][0]["max"] for d in decisions] == [100.0] * 2 + [60.0] * 6
    assert decisions[2]["config_hash"] == control[1]["config_hash"]
    assert verify(Stored(str(i), r.value) for i, r in enumerate(read_all(bootstrap, audit))).ok
