"""Malformed tensors and envelopes: each gets a precise dead-letter reason; trace headers."""

from __future__ import annotations

import msgspec
import pytest

from monitor.config_loader import parse_config
from monitor.errors import ConfigError
from monitor.join import JoinBuffer
from tests.formats import builders as b
from tests.formats import wire
from tests.formats.records import config, decode, record

_json = msgspec.json.encode
CONFIG = config(
    """
topics: {features: requests, predictions: responses}
formats:
  requests: {type: open_inference, model: credit-risk}
  responses: {type: open_inference, outputs: {score: probability, score_column: 1}}
"""
)


def tensor(name: str, datatype: str, shape: list[int], data: object) -> dict[str, object]:
    return {"name": name, "datatype": datatype, "shape": shape, "data": data}


def raw_request(name: str, datatype: str, values: list[object], cut: int) -> bytes:
    """A request whose raw contents lose their last ``cut`` bytes (the message stays valid)."""
    header = wire.delimited(5, wire.tensor(name, datatype, [len(values)], None))
    raw = wire.raw(datatype, values)
    return wire.text(3, "bad") + header + wire.delimited(7, raw[: len(raw) - cut])


def request(*tensors: dict[str, object]) -> bytes:
    return _json({"id": "bad", "inputs": list(tensors)})


MALFORMED = [
    (request(tensor("income", "FP64", [3], [1.0, 2.0])), "shape_mismatch", "holds 3 elements"),
    (
        request(tensor("income", "FP64", [2], [1.0, 2.0]), tensor("age", "FP64", [3], [1, 2, 3])),
        "shape_mismatch",
        "disagree on the batch size",
    ),
    (request(tensor("income", "FP128", [1], [1.0])), "unknown_datatype", "'FP128' is unknown"),
    (request(tensor("income", "FP64", [1], ["x"])), "wrong_type", "FP64 data holds a str"),
    (raw_request("income", "FP64", [1.0, 2.0], 3), "truncated_tensor", "8-byte FP64"),
    (raw_request("income", "FP32", [1.0, 2.0, 3.0], 4), "truncated_tensor", "needs 12 raw"),
    (raw_request("region", "BYTES", ["eu", "us"], 1), "truncated_tensor", "claims 2 bytes"),
    (b"\x0a\xff\xff\xff\x0f", "invalid_protobuf", "not a Model Infer request"),
    (_json({"id": "bad", "inputs": []}), "missing_tensor", "no input tensors"),
    (request(tensor("income", "FP64", [1], [1.0])) + b"x", "invalid_json", ""),
    (_json({"id": "bad"}), "schema", "needs 'inputs' or 'outputs'"),
    (request(tensor("age", "FP64", [1], [30.0])), "missing_feature", "'income' is required"),
]


@pytest.mark.parametrize(("value", "reason", "detail"), MALFORMED)
def test_malformed_requests_get_precise_reasons(value: bytes, reason: str, detail: str) -> None:
    events, rejected, _ = decode(CONFIG, [record("requests", value)])
    assert events == []
    assert [r.reason for r in rejected] == [reason]
    assert detail in rejected[0].detail
    assert rejected[0].record.value == value  # the dead letter keeps the original message


def test_response_problems_and_bad_rows_among_good_ones() -> None:
    missing = _json(
        {
            "id": "r",
            "outputs": [tensor("predict", "BYTES", [1], ["deny"])],
            "model_name": "credit-risk",
        }
    )
    rows = request(
        tensor("income", "FP64", [3, 1], [1.0, 2.0, 3.0]),
        tensor("region", "BYTES", [3, 1], ["eu", "x" * 300, "us"]),
    )
    events, rejected, _ = decode(CONFIG, [record("responses", missing), record("requests", rows)])
    assert [(r.reason, r.record.offset) for r in rejected] == [
        ("missing_tensor", 0),
        ("wrong_type", 1),
    ]
    assert "no score output 'probability'" in rejected[0].detail
    assert rejected[1].detail.startswith("event 'bad/1': feature 'region' longer than")
    assert [e.id for e in events] == ["bad/0", "bad/2"]  # the good rows are kept


def test_cloudevent_and_content_type_problems() -> None:
    cfg = config(
        """
topics: {features: logs, predictions: null}
formats: {logs: {type: kserve_cloudevents, encoding: json}}
"""
    )
    item = b.batches(1, seed=8)[0]
    body = _json(item.v2_request_columns())
    no_type = [
        h for h in b.ce_binary("a", b.CE_REQUEST, "2025-11-28T00:00:00Z") if h[0] != "ce_type"
    ]
    records = [
        record("logs", body, headers=no_type),
        record("logs", body, headers=b.ce_binary("a", "dev.example.other", "2025-11-28T00:00:00Z")),
        record(
            "logs",
            item.pb_request_columns(False),
            headers=b.ce_binary("a", b.CE_REQUEST, "2025-11-28T00:00:00Z"),
        ),
        record("logs", b'{"id": "x"}', headers=b.STRUCTURED_HEADERS),
    ]
    _, rejected, _ = decode(cfg, records)
    assert [r.reason for r in rejected] == [
        "invalid_cloudevent",
        "invalid_cloudevent",
        "wrong_content_type",
        "invalid_cloudevent",
    ]


def test_trace_headers_are_allowlisted_cut_and_merged_by_the_join() -> None:
    cfg = config(
        """
topics: {features: f, predictions: p}
trace_headers: {names: [traceparent, x-request-id], max_length: 16}
"""
    )
    feat = _json({"id": "e", "model": "credit-risk", "features": {"income": 1.0}})
    pred = _json({"id": "e", "model": "credit-risk", "prediction": {"score": 0.5}})
    records = [
        record("f", feat, headers=[("traceparent", b"00-" + b"a" * 40), ("secret", b"s")]),
        record("p", pred, headers=[("X-Request-Id", b"req-1"), ("traceparent", b"other")]),
    ]
    events, rejected, _ = decode(cfg, records)
    assert rejected == []
    assert events[0].headers == {"traceparent": "00-aaaaaaaaaaaaa"}
    assert events[1].headers == {"x-request-id": "req-1", "traceparent": "other"}
    join = JoinBuffer(60.0, 10)
    (merged,) = join.add(events).completed
    assert merged.headers == {"x-request-id": "req-1", "traceparent": "00-aaaaaaaaaaaaa"}
    half = JoinBuffer(60.0, 10)
    half.add(events[:1])
    restored = JoinBuffer(60.0, 10)
    restored.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(half.snapshot())))
    (again,) = restored.add(events[1:]).completed
    assert again.headers == merged.headers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("formats: {labels: {type: open_inference}}\ntopics: {labels: labels}", "not the features"),
        ("formats: {driftd.features: {type: seldon}}", "a seldon topic is"),
        ("formats: {driftd.features: {type: open_inference, components: [x]}}", "kserve"),
        ("formats: {driftd.features: {type: open_inference, model: nope}}", "'nope' is not"),
    ],
)
def test_format_config_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text + "\nmodels: {credit-risk: {features: {income: {type: numeric}}}}\n")
