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
from monitor.replay import FileRecord
from tests.formats import builders as b
from tests.formats import wire
from tests.formats.records import number, record
from tests.kafkatools import create_topics, read_all, running_daemon, unique, write_config

pytestmark = pytest.mark.integration
BASE = 1_764_300_000.0
TTL = 5.0
GUARDRAIL = {"name": "uncertain", "kind": "score_band", "low": 0.4, "high": 0.6, "action": "review"}


def send(bootstrap: str, messages: list[tuple[Any, ...]]) -> None:
    """``(topic, key, value, headers, timestamp_ms[, partition])``, uncompressed."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        futures = [
            producer.send(
                topic,
                key=key,
                value=value,
                headers=headers,
                timestamp_ms=ts,
                partition=rest[0] if rest else None,
            )
            for topic, key, value, headers, ts, *rest in messages
        ]
        producer.flush(60)
        for future in futures:
            future.get(30)
    finally:
        producer.close()


def native_outputs(overrides: dict[str, Any], records: list[Any]) -> dict[str, list[Any]]:
    """The same traffic as native events through the pipeline in process."""
    config = parse_config(msgspec.json.encode(overrides).decode())
    if records and isinstance(records[0], FileRecord):
        records = number(records)
    outputs = Pipeline(config, Metrics(CollectorRegistry())).process(records)
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
        for name in ("joined", "dead_letter", "review", "alerts")
        if topics.get(name)
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
        natives += [record(logs, v) for v in item.native_features(ts=ts)]
        if i != 1:
            natives += [record(logs, v) for v in item.native_predictions(ts=ts)]
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


def _models(*extra_guardrails: dict[str, Any]) -> dict[str, Any]:
    return {
        "credit-risk": {
            "features": {
                "income": {"type": "numeric", "required": True},
                "age": {"type": "numeric"},
                "region": {"type": "categorical"},
            },
            "guardrails": [GUARDRAIL, *extra_guardrails],
        }
    }


def _value(record: Any) -> dict[str, Any]:
    return msgspec.json.decode(record.value)


SELDON_OUTPUTS = {"score": "probability", "score_column": 1, "label": "predict"}
RICH = {
    "name": "rich",
    "kind": "expression",
    "expression": "features.income > 150000",
    "action": "alert",
}


def test_seldon_topics_through_the_daemon(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Two partitions keyed by request id: each request meets its response in one task."""
    prefix = unique("seldon")
    inputs = f"{prefix}.models.model.credit-risk.inputs"
    outputs = f"{prefix}.models.model.credit-risk.outputs"
    joined, dead, review, alerts = (unique(n) for n in ("joined", "dead", "review", "alerts"))
    create_topics(
        broker.bootstrap, {inputs: 2, outputs: 2, joined: 1, dead: 1, review: 1, alerts: 1}
    )
    overrides = {
        "topics": {
            "features": inputs,
            "predictions": outputs,
            "joined": joined,
            "dead_letter": dead,
            "review": review,
            "alerts": alerts,
        },
        "join": {"ttl_seconds": TTL, "on_incomplete": "dead_letter"},
        "formats": {
            inputs: {"type": "seldon", "pipelines": ["scoring"]},
            outputs: {"type": "seldon", "pipelines": ["scoring"], "outputs": SELDON_OUTPUTS},
        },
        "models": _models(RICH),
    }
    items = b.batches(40, seed=12, prefix="cq")
    messages, natives = [], []
    for i, item in enumerate(items):
        partition = i % 2
        ms = int((BASE + i) * 1000)
        key = f"{partition}.credit-risk.{item.request_id}".encode()
        headers = [("pipeline", b"scoring"), ("x-request-id", item.request_id.encode())]
        request = item.pb_request_columns(use_raw=i % 3 == 0)
        messages.append((inputs, key, request, headers, ms, partition))
        natives += [_NativeRecord(inputs, partition, v, ms) for v in item.native_features()]
        if i != 2:  # request 2 never gets its response
            response = item.pb_response(use_raw=i % 3 == 1)
            messages.append((outputs, key, response, headers, ms, partition))
            natives += [_NativeRecord(outputs, partition, v, ms) for v in item.native_predictions()]
    other = [("pipeline", b"other")]
    messages.append((inputs, b"0.credit-risk.x", items[0].pb_request_columns(False), other, 0, 0))
    expected = native_outputs({**overrides, "formats": {}}, _in_task_order(natives))
    outputs_count = sum(len(v) for v in expected.values())
    got = run(broker, tmp_path, overrides, messages, outputs_count)
    assert comparable([_value(r) for r in got["joined"]]) == comparable(expected[joined])
    expired = [_value(r) for r in got["dead_letter"]]
    assert sorted(r["reason"] for r in expired) == ["join_expired"] * items[2].n
    # The expired half's dead letter keeps its trace headers.
    assert {dict(r.headers)["x-request-id"] for r in got["dead_letter"]} == {b"cq-2"}
    reviews = [_value(r) for r in got["review"]]
    assert comparable([r["event"] for r in reviews]) == comparable(
        [r["event"] for r in expected[review]]
    )
    for body in reviews:
        assert body["event"]["headers"] == {"x-request-id": body["id"].split("/")[0]}
    (firing,) = [a for a in map(_value, got["alerts"]) if a["rule"] == "rich"][:1]
    assert firing["status"] == "firing"
    assert firing["example"]["headers"]["x-request-id"] == firing["example"]["id"].split("/")[0]


class _NativeRecord:
    def __init__(self, topic: str, partition: int, value: bytes, ms: int) -> None:
        self.topic, self.partition, self.value, self.timestamp = topic, partition, value, ms
        self.offset = 0
        self.key: bytes | None = None
        self.headers: list[tuple[str, bytes]] = []


def _in_task_order(records: list[_NativeRecord]) -> list[_NativeRecord]:
    """As the daemon orders a batch: by partition, features topic first; offsets numbered."""
    ordered = sorted(records, key=lambda r: (r.partition, "outputs" in r.topic))
    counters: dict[tuple[str, int], int] = {}
    for r in ordered:
        key = (r.topic, r.partition)
        r.offset = counters.get(key, 0)
        counters[key] = r.offset + 1
    return ordered


def _rfc3339(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def test_open_inference_topics_and_malformed_tensors(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    requests, responses = unique("requests"), unique("responses")
    joined, dead = unique("joined"), unique("dead")
    create_topics(broker.bootstrap, {requests: 1, responses: 1, joined: 1, dead: 1})
    overrides = {
        "topics": {
            "features": requests,
            "predictions": responses,
            "joined": joined,
            "dead_letter": dead,
        },
        "formats": {
            requests: {
                "type": "open_inference",
                "model": "credit-risk",
                "columns": ["income", "age"],
            },
            responses: {"type": "open_inference", "outputs": SELDON_OUTPUTS},
        },
        "models": _models(),
    }
    items = b.batches(25, seed=13, prefix="oip")
    messages, natives = [], []
    for i, item in enumerate(items):
        ms = int((BASE + i) * 1000)
        request = (
            msgspec.json.encode(item.v2_request_matrix()) if i % 2 else item.pb_request_matrix(True)
        )
        response = msgspec.json.encode(item.v2_response()) if i % 3 else item.pb_response(False)
        trace = [("traceparent", f"00-{i:032x}-{i:016x}-01".encode())]
        messages += [(requests, None, request, trace, ms), (responses, None, response, [], ms)]
        natives += [
            _NativeRecord(requests, 0, v, ms)
            for v in item.native_features(columns=("income", "age"))
        ]
        natives += [_NativeRecord(responses, 0, v, ms) for v in item.native_predictions()]

    def bad(*tensors: tuple[str, str, list[int], Any]) -> bytes:
        inputs = [{"name": n, "datatype": d, "shape": s, "data": v} for n, d, s, v in tensors]
        return msgspec.json.encode({"id": "bad", "inputs": inputs})

    truncated = (
        wire.text(3, "bad")
        + wire.delimited(5, wire.tensor("input-0", "FP32", [1, 2], None))
        + wire.delimited(7, wire.raw("FP32", [1.0, 2.0])[:-2])
    )
    malformed = [
        (bad(("input-0", "FP32", [2, 2], [1.0, 2.0, 3.0])), "shape_mismatch"),
        (bad(("input-0", "FP8", [1, 2], [1.0, 2.0])), "unknown_datatype"),
        (truncated, "truncated_tensor"),
        (bad(("input-0", "FP32", [1, 3], [1.0, 2.0, 3.0])), "shape_mismatch"),
    ]
    messages += [(requests, None, value, [], int(BASE * 1000)) for value, _ in malformed]
    expected = native_outputs({**overrides, "formats": {}}, _in_task_order(natives))
    got = run(broker, tmp_path, overrides, messages, sum(len(v) for v in expected.values()) + 4)
    joined_bodies = [_value(r) for r in got["joined"]]
    assert comparable(joined_bodies) == comparable(expected[joined])
    assert len(joined_bodies) == sum(i.n for i in items)
    for body in joined_bodies:  # the request's traceparent rides along with the joined event
        index = int(body["id"].split("/")[0].split("-")[1])
        assert body["headers"] == {"traceparent": f"00-{index:032x}-{index:016x}-01"}
    letters = sorted((_value(r)["reason"], _value(r)["detail"]) for r in got["dead_letter"])
    assert [reason for reason, _ in letters] == sorted(reason for _, reason in malformed)
    details = " | ".join(detail for _, detail in letters)
    for fragment in (
        "holds 4 elements, data has 3",
        "'FP8' is unknown",
        "6 raw bytes are not a whole number of 4-byte FP32",
        "has 3 columns, the format names 2",
    ):
        assert fragment in details
