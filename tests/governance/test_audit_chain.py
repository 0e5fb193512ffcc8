"""The audit trail in process: records for alerts and held decisions, hashes checked
with an independent canonical JSON (json.dumps), the chain head carried through a
checkpoint, crash re-sends recognised, tampering and gaps reported at the first break."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from monitor.audit import GENESIS, config_hash
from monitor.audit_verify import Stored, verify
from monitor.cli import main
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord
from tests.governance.streams import as_records, models_config

TOPIC = "driftd.features"
AUDIT = "driftd.audit"


def config(**extra: Any) -> Config:
    return Config.model_validate(
        {
            "topics": {"features": TOPIC, "predictions": None},
            "audit": {"enabled": True, "topic": AUDIT},
            "models": models_config(),
            **extra,
        }
    )


def clock(start: float) -> Any:
    ticks = itertools.count()
    return lambda: start + next(ticks) * 0.001


def run(pipeline: Pipeline, records: list[FileRecord], size: int = 700) -> list[bytes]:
    audit = []
    for i in range(0, len(records), size):
        outputs = pipeline.process(records[i : i + size])
        audit += [o.value for o in outputs if o.topic == AUDIT]
    return audit


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def stored(values: list[bytes]) -> list[Stored]:
    return [Stored(f"line {i}", v) for i, v in enumerate(values)]


def test_records_hash_chain_and_verify() -> None:
    cfg = config()
    values = run(Pipeline(cfg, Metrics(CollectorRegistry()), now=clock(2e9)), as_records(TOPIC))
    records = [msgspec.json.decode(v) for v in values]
    kinds = {(r["kind"], r["action"]) for r in records}
    assert {("alert", "firing"), ("alert", "resolved"), ("decision", "review")} <= kinds
    expected_config = hashlib.sha256(canonical(cfg.model_dump(mode="json"))).hexdigest()
    heads: dict[str, str] = {}
    for record in records:
        body = {k: v for k, v in record.items() if k != "hash"}
        assert record["hash"] == hashlib.sha256(canonical(body)).hexdigest()
        assert record["prev_hash"] == heads.get(record["chain"], GENESIS)
        heads[record["chain"]] = record["hash"]
        assert record["config_hash"] == expected_config
        assert record["window"]["partition"] == int(record["chain"].rsplit("/", 1)[1])
        if record["kind"] == "decision":
            assert record["subject"]["event"]["features"]["debt_to_income"] > 0.7
            assert record["rule"]["guardrails"][0]["max"] == 0.7
            assert record["window"]["start_offset"] == record["subject"]["source"]["offset"]
        elif record["subject"]["kind"] == "data_drift":
            assert record["rule"]["detector"] == record["subject"]["test"]
            assert record["rule"]["policy"]["consecutive_windows"] == 2
            assert record["window"]["end_offset"] == record["subject"]["window"]["end"]["offset"]
    assert set(heads) == {"driftd/task/0", "driftd/task/1"}
    result = verify(stored(values))
    assert result.ok, result.summary()
    assert result.records == len(values) and result.resends == 0


def test_config_hash_redacts_secrets() -> None:
    def with_password(password: str) -> Config:
        return config(
            kafka={
                "security_protocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "PLAIN", "username": "u", "password": password},
            }
        )

    one, two = with_password("hunter2-secret"), with_password("other-secret")
    assert b"hunter2" not in canonical(one.model_dump(mode="json"))
    assert config_hash(one) == config_hash(two)
    assert config_hash(one) != config_hash(config())


def test_tampering_and_gaps_are_breaks() -> None:
    values = run(
        Pipeline(config(), Metrics(CollectorRegistry()), now=clock(2e9)), as_records(TOPIC)
    )
    k = len(values) // 2
    record = msgspec.json.decode(values[k])

    modified = dict(record, action="resolved" if record["action"] != "resolved" else "firing")
    result = verify(stored([*values[:k], msgspec.json.encode(modified), *values[k + 1 :]]))
    assert not result.ok and result.broken is not None
    assert result.broken.where == f"line {k}" and "modified" in result.broken.reason
    assert result.records == k

    # A forger who recomputes the hash breaks the link of the next record of the chain.
    body = {key: v for key, v in modified.items() if key != "hash"}
    forged = dict(body, hash=hashlib.sha256(canonical(body)).hexdigest())
    result = verify(stored([*values[:k], msgspec.json.encode(forged), *values[k + 1 :]]))
    assert result.broken is not None
    nxt = next(
        i
        for i in range(k + 1, len(values))
        if msgspec.json.decode(values[i])["chain"] == record["chain"]
    )
    assert result.broken.where == f"line {nxt}" and "missing" in result.broken.reason

    result = verify(stored([*values[:k], *values[k + 1 :]]))
    assert result.broken is not None and result.broken.where == f"line {nxt - 1}"
    assert result.broken.seq == record["seq"] + 1


def test_crash_resend_continues_the_chain() -> None:
    """Process to a checkpoint, go on, crash; a new pipeline restored from the checkpoint
    (with another clock) processes the same records again: the re-sent records are
    recognised, the chain goes on, and its end matches a run without a crash."""
    stream = as_records(TOPIC)
    cut, crash = 4200, 6100
    first = Pipeline(config(), Metrics(CollectorRegistry()), now=clock(2e9))
    written = run(first, stream[:cut])
    blobs = {task: first.snapshot(task) for task in (0, 1)}
    between = run(first, stream[cut:crash])
    written += between
    second = Pipeline(config(), Metrics(CollectorRegistry()), now=clock(3e9))
    for task, blob in blobs.items():
        second.restore(task, blob)
    written += run(second, stream[cut:], size=333)
    result = verify(stored(written))
    assert result.ok, result.summary()
    assert result.resends == len(between) > 0
    uninterrupted = Pipeline(config(), Metrics(CollectorRegistry()), now=clock(2e9))
    plain = verify(stored(run(uninterrupted, stream)))
    assert plain.chains == result.chains

    # A re-sent record whose content differs from the original is not a re-send.
    originals = {}
    for i, value in enumerate(written):
        rec = msgspec.json.decode(value)
        key = (rec["chain"], rec["seq"])
        if key in originals:
            body = {k: v for k, v in rec.items() if k != "hash"}
            body["subject"] = dict(body["subject"], id="someone-else")
            body["hash"] = hashlib.sha256(canonical(body)).hexdigest()
            bad = [*written[:i], msgspec.json.encode(body), *written[i + 1 :]]
            broken = verify(stored(bad)).broken
            assert broken is not None and "different content" in broken.reason
            break
        originals[key] = i
    else:
        raise AssertionError("no re-sent record")


def test_audit_topic_cannot_be_an_input() -> None:
    with pytest.raises(ValidationError, match=r"audit\.topic driftd\.features is also an input"):
        Config.model_validate(
            {
                "topics": {"features": TOPIC, "predictions": None},
                "audit": {"enabled": True, "topic": TOPIC},
                "models": models_config(),
            }
        )


def test_missing_files_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = tmp_path / "driftd.yaml"
    config_path.write_text(
        json.dumps({"topics": {"features": TOPIC, "predictions": None}, "models": models_config()})
    )
    missing = str(tmp_path / "nothing.jsonl")
    assert main(["audit", "verify", "--file", missing]) == 1
    assert main(["replay", "-c", str(config_path), "--input", missing, "--out", "o"]) == 1
    assert capsys.readouterr().err.count(f"driftd: {missing}: no such file") == 2


def test_decision_trace_headers_reach_review_and_audit() -> None:
    """A decision's trace headers (here W3C ``traceparent``) ride on its review message
    and on its audit record, as Kafka headers and inside the recorded event."""
    parent = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    records = as_records(TOPIC, per_model=1200)
    for record in records:
        record.headers = [("traceparent", parent), ("x-unrelated", b"dropped")]
    outputs = Pipeline(config(), Metrics(CollectorRegistry()), now=clock(2e9)).process(records)
    reviews = [o for o in outputs if o.topic == "driftd.review"]
    audits = [o for o in outputs if o.topic == AUDIT]
    decisions = [o for o in audits if msgspec.json.decode(o.value)["kind"] == "decision"]
    assert reviews and len(decisions) == len(reviews)
    for output in (*reviews, *decisions):
        assert output.headers == [("traceparent", parent)]
    for output in decisions:
        event = msgspec.json.decode(output.value)["subject"]["event"]
        assert event["headers"] == {"traceparent": parent.decode()}
