"""Replay runs the daemon's pipeline: on the same events (read back from the topic range
and from a JSONL file) it produces exactly the alerts and held decisions the live daemon
wrote; the daemon's audit trail verifies; --compare reports what another config changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from monitor.broker import EmbeddedBroker, free_port
from monitor.cli import main
from tests.governance.streams import MODELS, PER_MODEL, messages, models_config
from tests.kafkatools import FAST_GROUP, DaemonProcess, create_topics, read_all, unique
from tests.reliability.helpers import produce_keyed

pytestmark = pytest.mark.integration


class Cli:
    """``driftd`` commands in this process (the same entry point; no interpreter start-up)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str]:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err


def alert_key(alert: dict[str, Any]) -> tuple[Any, ...]:
    window = alert.get("window") or {}
    return (alert["dedup_key"], alert["status"], window.get("name"), window.get("index"))


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line]


def test_replay_matches_live_daemon(
    broker: EmbeddedBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    driftd = Cli(capsys)
    bootstrap = broker.bootstrap
    features, alerts, review, dlq, audit = (
        unique(n) for n in ("features", "alerts", "review", "dlq", "audit")
    )
    create_topics(bootstrap, {features: 2, alerts: 1, review: 1, dlq: 1})
    produce_keyed(bootstrap, features, messages())
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "consumer": {**FAST_GROUP, "group_id": unique("group"), "max_poll_records": 700},
        },
        "topics": {
            "features": features,
            "predictions": None,
            "alerts": alerts,
            "review": review,
            "dead_letter": dlq,
        },
        "audit": {"enabled": True, "topic": audit, "file": str(tmp_path / "audit.jsonl")},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "logging": {"format": "json"},
        "models": models_config(),
    }
    config_path = tmp_path / "driftd.yaml"
    config_path.write_text(yaml.safe_dump(config))

    daemon = DaemonProcess(config_path, config["server"]["port"], tmp_path / "daemon.log")
    daemon.start()
    try:
        daemon.wait_for(
            lambda: daemon.metric_total("driftd_records_consumed_total") >= 2 * PER_MODEL,
            90,
            "done consuming",
        )
    finally:
        daemon.stop()
    assert daemon.wait(5) == 0, daemon.tail()
    live_alerts = [msgspec.json.decode(r.value) for r in read_all(bootstrap, alerts)]
    live_review = [msgspec.json.decode(r.value) for r in read_all(bootstrap, review)]
    statuses = {a["status"] for a in live_alerts}
    assert statuses == {"firing", "resolved"} and live_review

    # The daemon's audit trail: intact on the topic and in the file, one record per
    # alert and held decision (plus the config record of the start).
    verified = driftd("audit", "verify", "-c", str(config_path))
    assert verified[0] == 0 and verified[1].startswith("OK: "), verified
    on_topic = [msgspec.json.decode(r.value) for r in read_all(bootstrap, audit)]
    assert sorted(r["hash"] for r in on_topic) == sorted(
        r["hash"] for r in jsonl(tmp_path / "audit.jsonl")
    )
    by_kind = {k: sum(1 for r in on_topic if r["kind"] == k) for k in ("alert", "decision")}
    assert by_kind == {"alert": len(live_alerts), "decision": len(live_review)}
    assert [r["action"] for r in on_topic if r["kind"] == "config"] == ["loaded"]
    from_file = driftd("audit", "verify", "--file", str(tmp_path / "audit.jsonl"))
    assert from_file[0] == 0, from_file

    # The recorded stream as a JSONL file of envelopes, as `kcat -J` style tools dump it.
    recorded = tmp_path / "recorded.jsonl"
    with recorded.open("w") as out:
        for r in read_all(bootstrap, features):
            envelope = {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "timestamp": r.timestamp,
                "value": r.value.decode(),
            }
            out.write(json.dumps(envelope) + "\n")

    for name, source in (("topic", ["--topic", features]), ("file", ["--input", str(recorded)])):
        out_dir = tmp_path / f"replay-{name}"
        done = driftd("replay", "-c", str(config_path), *source, "--out", str(out_dir))
        assert done[0] == 0, done
        replayed = jsonl(out_dir / "alerts.jsonl")
        assert sorted(replayed, key=alert_key) == sorted(live_alerts, key=alert_key), name
        decisions = jsonl(out_dir / "decisions.jsonl")
        assert sorted(d["id"] for d in decisions) == sorted(d["id"] for d in live_review)
        summary = json.loads((out_dir / "summary.json").read_text())
        assert summary["records"] == 2 * PER_MODEL
        windows = jsonl(out_dir / "windows.jsonl")
        tested = [w for w in windows if w["kind"] == "window"]
        # Every model's stream: (events - warm-up) / window size tested windows.
        assert len(tested) == len(MODELS) * ((PER_MODEL - 1000) // 250)
        for alert in replayed:
            if alert["kind"] == "data_drift":
                window = next(
                    w
                    for w in tested
                    if w["model"] == alert["model"] and w["window"] == alert["window"]
                )
                test = next(
                    t
                    for t in window["tests"]
                    if (t["feature"], t["test"]) == (alert["feature"], alert["test"])
                )
                assert test["statistic"] == alert["statistic"]
        assert not (out_dir / "compare.json").exists()
        replay_audit = driftd("audit", "verify", "--file", str(out_dir / "audit.jsonl"))
        assert replay_audit[0] == 0, replay_audit

    # Ranges: offsets apply to every partition; a time resolves through the time index.
    ranged = tmp_path / "ranged"
    done = driftd(
        "replay",
        "-c",
        str(config_path),
        "--topic",
        features,
        "--from",
        "100",
        "--to",
        "2100",
        "--out",
        str(ranged),
    )
    assert done[0] == 0, done
    assert json.loads((ranged / "summary.json").read_text())["records"] == 2 * 2000
    decisions = jsonl(ranged / "decisions.jsonl")
    assert decisions and all(100 <= d["source"]["offset"] < 2100 for d in decisions)
    done = driftd(
        "replay",
        "-c",
        str(config_path),
        "--topic",
        features,
        "--partition",
        "1",
        "--from",
        "2000-01-01T00:00:00Z",
        "--to",
        "2100-01-01T00:00:00Z",
        "--out",
        str(ranged),
    )
    assert done[0] == 0, done
    assert json.loads((ranged / "summary.json").read_text())["records"] == PER_MODEL

    # What-if: review above 0.6 instead of 0.7, alert on the first drifted window.
    other = dict(config, models=models_config(0.6, consecutive_windows=1))
    other_path = tmp_path / "other.yaml"
    other_path.write_text(yaml.safe_dump(other))
    out_dir = tmp_path / "what-if"
    done = driftd(
        "replay",
        "-c",
        str(config_path),
        "--input",
        str(recorded),
        "--out",
        str(out_dir),
        "--compare",
        str(other_path),
    )
    assert done[0] == 0, done
    result = json.loads((out_dir / "compare.json").read_text())
    # Independently: the events whose ratio lies in (0.6, 0.7] change from approve to review.
    events = [msgspec.json.decode(v) for _, v in messages()]
    expected = {
        (e["model"], e["id"]) for e in events if 0.6 < e["features"]["debt_to_income"] <= 0.7
    }
    changed = {(c["model"], c["id"]) for c in result["decisions_changed"]}
    assert changed == expected and expected
    assert {c["other"] for c in result["decisions_changed"]} == {"review"}
    assert result["alerts_gained"] and "gained" in done[1]
