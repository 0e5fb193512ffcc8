"""KServe CloudEvents (binary and structured) and Seldon Core v2 topics against native events."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tests.formats import builders as b
from tests.formats.records import config, decode, essence, native, record

_json = msgspec.json.encode
TIME = "2025-11-28T03:10:00.123456789Z"
TS = datetime.fromisoformat(TIME).timestamp()

KSERVE = config(
    """
topics: {features: inference-logs, predictions: null}
formats:
  inference-logs:
    type: kserve_cloudevents
    outputs: {score: probability, score_column: 1, label: predict}
"""
)
KSERVE_NATIVE = config("topics: {features: inference-logs, predictions: null}\n")


def test_binary_and_structured_cloudevents_become_the_native_events() -> None:
    items = b.batches(8, seed=5)
    records, expected = [], []
    for i, item in enumerate(items):
        ce_id = item.request_id
        request, response = _json(item.v2_request_columns()), _json(item.v2_response())
        if i % 4 == 0:  # binary mode, JSON bodies
            records.append(record("t", request, headers=b.ce_binary(ce_id, b.CE_REQUEST, TIME)))
            records.append(record("t", response, headers=b.ce_binary(ce_id, b.CE_RESPONSE, TIME)))
        elif i % 4 == 1:  # binary mode, protobuf response labelled application/json
            pb = item.pb_response(use_raw=True)
            records.append(record("t", request, headers=b.ce_binary(ce_id, b.CE_REQUEST, TIME)))
            records.append(record("t", pb, headers=b.ce_binary(ce_id, b.CE_RESPONSE, TIME)))
        elif i % 4 == 2:  # structured mode, JSON data
            structured = b.STRUCTURED_HEADERS
            req = b.ce_structured(ce_id, b.CE_REQUEST, TIME, item.v2_request_columns())
            resp = b.ce_structured(ce_id, b.CE_RESPONSE, TIME, item.v2_response())
            records += [record("t", req, headers=structured), record("t", resp, headers=structured)]
        else:  # structured mode, protobuf bodies in data_base64
            structured = b.STRUCTURED_HEADERS
            req = b.ce_structured(
                ce_id, b.CE_REQUEST, TIME, item.pb_request_columns(False), binary=True
            )
            resp = b.ce_structured(ce_id, b.CE_RESPONSE, TIME, item.pb_response(False), binary=True)
            records += [record("t", req, headers=structured), record("t", resp, headers=structured)]
        expected += item.native_features(ts=TS) + item.native_predictions(ts=TS)
    for r in records:
        r.topic = "inference-logs"
    events, rejected, _ = decode(KSERVE, records)
    assert rejected == []
    natives = native(KSERVE_NATIVE, [record("inference-logs", v) for v in expected])
    assert sorted(essence(events), key=repr) == sorted(essence(natives), key=repr)
    assert {e.headers["ce_id"] for e in events if e.headers} == {i.request_id for i in items}


def test_v1_bodies_and_other_components_are_skipped_and_counted() -> None:
    item = b.batches(1, seed=6, max_rows=1)[0]
    ce_id = "v1-req"
    item.request_id = ce_id
    records = [
        record(
            "inference-logs",
            _json(item.v1_request()),
            headers=b.ce_binary(ce_id, b.CE_REQUEST, TIME),
        ),
        record(
            "inference-logs",
            _json(item.v1_response()),
            headers=b.ce_binary(ce_id, b.CE_RESPONSE, TIME),
        ),
        record(
            "inference-logs",
            _json(item.v1_request()),
            headers=b.ce_binary("t-1", b.CE_REQUEST, TIME, component="transformer"),
        ),
        record(
            "inference-logs",
            b.ce_structured("x-1", b.CE_RESPONSE, TIME, item.v1_response(), component="explainer"),
            headers=b.STRUCTURED_HEADERS,
        ),
    ]
    events, rejected, metrics = decode(KSERVE, records)
    assert rejected == []
    expected = native(
        KSERVE_NATIVE,
        [
            record("inference-logs", v)
            for v in item.native_features(ts=TS) + item.native_predictions(ts=TS)
        ],
    )
    assert essence(events) == essence(expected)
    skipped = metrics.registry.get_sample_value(
        "driftd_records_skipped_total", {"topic": "inference-logs", "reason": "component"}
    )
    assert skipped == 2


SELDON_IN = "seldon.models.model.credit-risk.inputs"
SELDON_OUT = "seldon.models.model.credit-risk.outputs"
SELDON = config(
    f"""
topics: {{features: {SELDON_IN}, predictions: {SELDON_OUT}}}
formats:
  {SELDON_IN}: {{type: seldon, pipelines: [scoring]}}
  {SELDON_OUT}:
    type: seldon
    pipelines: [scoring]
    outputs: {{score: probability, score_column: 1, label: predict}}
"""
)
SELDON_NATIVE = config(f"topics: {{features: {SELDON_IN}, predictions: {SELDON_OUT}}}\n")


def test_seldon_topics_keys_and_request_id_header() -> None:
    items = b.batches(6, seed=7)
    records, expected = [], []
    pipeline = [("pipeline", b"scoring")]
    for i, item in enumerate(items):
        if i % 3 == 0:  # current key, no header
            key, headers = f"{i % 2}.credit-risk.{item.request_id}".encode(), pipeline
        elif i % 3 == 1:  # older key
            key, headers = f"credit-risk.{item.request_id}".encode(), pipeline
        else:  # x-request-id header wins over a key it disagrees with
            key = b"0.credit-risk.something-else"
            headers = [*pipeline, ("x-request-id", item.request_id.encode())]
        request = item.pb_request_columns(use_raw=i % 2 == 0)
        response = item.pb_response(use_raw=i % 2 == 1) if i != 4 else _json(item.v2_response())
        records.append(record(SELDON_IN, request, key=key, headers=headers))
        records.append(record(SELDON_OUT, response, key=key, headers=headers))
        expected += [record(SELDON_IN, v) for v in item.native_features()]
        expected += [record(SELDON_OUT, v) for v in item.native_predictions()]
    other = items[0]
    records.append(
        record(
            SELDON_IN, other.pb_request_columns(False), key=b"0.x.y", headers=[("pipeline", b"ab")]
        )
    )
    events, rejected, metrics = decode(SELDON, records)
    assert rejected == []
    assert sorted(essence(events), key=repr) == sorted(
        essence(native(SELDON_NATIVE, expected)), key=repr
    )
    skipped = metrics.registry.get_sample_value(
        "driftd_records_skipped_total", {"topic": SELDON_IN, "reason": "pipeline"}
    )
    assert skipped == 1
