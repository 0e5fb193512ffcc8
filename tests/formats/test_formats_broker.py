"""Model-server formats through the real broker and daemon, against the native pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from kafka import KafkaProducer
from prometheus_client import CollectorRegistry

from monitor.broker import EmbeddedBroker
from monitor.config_loader import parse_config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from tests.formats import builders as b
from tests.formats.records import Record, number
from tests.kafkatools import create_topics, read_all, running_daemon, unique, write_config

pytestmark = pytest.mark.integration
BASE = 1_764_300_000.0
TTL = 5.0
GUARDRAIL = {"name": "uncertain", "kind": "score_band", "low": 0.4, "high": 0.6, "action": "review"}


def send(bootstrap: str, messages: list[tuple[str, bytes | None, bytes, list[Any], int]]) -> None:
    """Uncompressed, with headers and record times, as model servers' producers write."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [
            producer.send(topic, key=key, value=value, headers=headers, timestamp_ms=ts)
            for topic, key, value, headers, ts in messages
        ]
        producer.flush(60)
        for future in futures:
            future.get(30)
    finally:
        producer.close()


def native_outputs(overrides: dict[str, Any], records: list[Record]) -> dict[str, list[Any]]:
    """The same traffic as native events through the pipeline in process."""
    config = parse_config(msgspec.json.encode(overrides).decode())
    outputs = Pipeline(config, Metrics(CollectorRegistry())).process(number(records))
    by_topic: dict[str, list[Any]] = {}
    for output in outputs:
        by_topic.setdefault(output.topic, []).append(msgspec.json.decode(output.value))
    return by_topic


def comparable(bodies: list[dict[str, Any]]) -> list[Any]:
    return sorted(
        msgspec.json.encode({k: v for k, v in body.items() if k != "headers"}) for body in bodies
    )


def run(
    broker: EmbeddedBroker,
    tmp_path: Path,
    overrides: dict[str, Any],
    messages: list[Any],
    expect_outputs: int,
) -> dict[str, list[Any]]:
    config_path = tmp_path / "driftd.yaml"
    overrides = {**overrides, "kafka": {"consumer": {"group_id": unique("group")}}}
    config = write_config(config_path, broker.bootstrap, overrides)
    send(broker.bootstrap, messages)
    topics = config["topics"]
    with running_daemon(config_path, config["server"]["port"], tmp_path / "log") as daemon:
        daemon.wait_for(
            lambda: (
                daemon.metric_total("driftd_records_consumed_total") >= len(messages)
                and daemon.metric_total("driftd_output_records_total") >= expect_outputs
            ),
            30,
            "done",
        )
        done = (
            daemon.metric_total("driftd_records_consumed_total"),
            daemon.metric_total("driftd_output_records_total"),
        )
    assert done == (len(messages), expect_outputs)
    return {
        name: read_all(broker.bootstrap, topics[name])
        for name in ("joined", "dead_letter", "review")
    }


def test_kserve_cloudevents_through_the_daemon(broker: EmbeddedBroker, tmp_path: Path) -> None:
    logs, joined, dead, review = (unique(n) for n in ("logs", "joined", "dead", "review"))
    create_topics(broker.bootstrap, {logs: 1, joined: 1, dead: 1, review: 1})
    topics = {
        "features": logs,
        "predictions": None,
        "joined": joined,
        "dead_letter": dead,
        "review": review,
    }
    overrides = {
        "topics": topics,
        "join": {"ttl_seconds": TTL, "on_incomplete": "dead_letter"},
        "formats": {
            logs: {
                "type": "kserve_cloudevents",
                "outputs": {"score": "probability", "score_column": 1, "label": "predict"},
            }
        },
    }
    items = b.batches(30, seed=11)
    messages, natives = [], []
    for i, item in enumerate(items):
        ts = BASE + i  # one second apart: the first unpaired half expires after TTL
        time = _rfc3339(ts)
        trace = {"traceparent": f"00-{i:032x}-{i:016x}-01"}
        req, resp = item.v2_request_columns(), item.v2_response()
        if i % 2:
            messages.append(
                (
                    logs,
                    None,
                    msgspec.json.encode(req),
                    b.ce_binary(item.request_id, b.CE_REQUEST, time, **trace),
                    0,
                )
            )
            if i != 1:  # request 1 never gets its response
                messages.append(
                    (
                        logs,
                        None,
                        item.pb_response(use_raw=True),
                        b.ce_binary(item.request_id, b.CE_RESPONSE, time, **trace),
                        0,
                    )
                )
        else:
            messages.append(
                (
                    logs,
                    None,
                    b.ce_structured(item.request_id, b.CE_REQUEST, time, req),
                    b.STRUCTURED_HEADERS,
                    0,
                )
            )
            messages.append(
                (
                    logs,
                    None,
                    b.ce_structured(item.request_id, b.CE_RESPONSE, time, resp),
                    b.STRUCTURED_HEADERS,
                    0,
                )
            )
        natives += [Record(logs, v) for v in item.native_features(ts=ts)]
        if i != 1:
            natives += [Record(logs, v) for v in item.native_predictions(ts=ts)]
    bad = msgspec.json.encode(
        {"inputs": [{"name": "income", "datatype": "FP64", "shape": [2], "data": [1.0]}]}
    )
    messages.append((logs, None, bad, b.ce_binary("bad-1", b.CE_REQUEST, _rfc3339(BASE)), 0))
    messages.append(
        (
            logs,
            None,
            bad,
            b.ce_binary("t-1", b.CE_REQUEST, _rfc3339(BASE), component="transformer"),
            0,
        )
    )
    expected = native_outputs({**overrides, "formats": {}, "models": _models()}, natives)
    total = sum(len(v) for v in expected.values()) + 1  # + the malformed tensor's dead letter
    got = run(broker, tmp_path, {**overrides, "models": _models()}, messages, total)
    assert comparable(list(map(_value, got["joined"]))) == comparable(expected[joined])
    assert len(expected[joined]) == sum(i.n for i in items) - items[1].n
    reasons = sorted(_value(r)["reason"] for r in got["dead_letter"])
    assert reasons == sorted(["shape_mismatch"] + ["join_expired"] * items[1].n)
    assert {h for r in got["dead_letter"] for h, _ in r.headers} >= {"ce_id", "driftd-reason"}
    reviews = [_value(r) for r in got["review"]]
    assert comparable([r["event"] for r in reviews]) == comparable(
        [r["event"] for r in expected[review]]
    )
    for body in reviews:
        request_id = body["id"].split("/")[0]
        index = int(request_id.split("-")[1])
        assert body["event"]["headers"]["ce_id"] == request_id
        if index % 2:
            assert body["event"]["headers"]["traceparent"] == f"00-{index:032x}-{index:016x}-01"


def _models() -> dict[str, Any]:
    return {
        "credit-risk": {
            "features": {
                "income": {"type": "numeric", "required": True},
                "age": {"type": "numeric"},
                "region": {"type": "categorical"},
            },
            "guardrails": [GUARDRAIL],
        }
    }


def _value(record: Any) -> dict[str, Any]:
    return msgspec.json.decode(record.value)


def _rfc3339(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
