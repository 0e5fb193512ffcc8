"""Open Inference Protocol v2 requests and responses, JSON and protobuf, against native events."""

from __future__ import annotations

import msgspec
import pytest

from tests.formats.builders import batches
from tests.formats.records import RECORD_MS, config, decode, essence, native, record

CONFIG = config(
    """
topics: {features: requests, predictions: responses}
formats:
  requests: {type: open_inference, model: credit-risk}
  responses:
    type: open_inference
    outputs: {score: probability, score_column: 1, label: predict}
"""
)
MATRIX = config(
    """
topics: {features: requests, predictions: responses}
formats:
  requests: {type: open_inference, model: credit-risk, columns: [income, age]}
"""
)
NATIVE = config("topics: {features: requests, predictions: responses}\n")
_json = msgspec.json.encode


@pytest.mark.parametrize("encoding", ["json", "protobuf typed", "protobuf raw"])
def test_requests_one_input_per_column_become_one_event_per_row(encoding: str) -> None:
    items = batches(12, seed=1)
    if encoding == "json":
        values = [_json(b.v2_request_columns()) for b in items]
    else:
        values = [b.pb_request_columns(use_raw=encoding == "protobuf raw") for b in items]
    events, rejected, _ = decode(CONFIG, [record("requests", v) for v in values])
    assert rejected == []
    expected = native(NATIVE, [record("requests", v) for b in items for v in b.native_features()])
    assert essence(events) == essence(expected)
    assert sum(b.n for b in items) == len(events) > len(items)
    assert {e.ts for e in events} == {RECORD_MS / 1000}  # no time in the message: the record's


@pytest.mark.parametrize("encoding", ["json", "protobuf typed", "protobuf raw"])
def test_an_n_by_f_input_tensor_takes_its_column_names_from_the_config(encoding: str) -> None:
    items = batches(8, seed=2)
    if encoding == "json":
        values = [_json(b.v2_request_matrix()) for b in items]
    else:
        values = [b.pb_request_matrix(use_raw=encoding == "protobuf raw") for b in items]
    events, rejected, _ = decode(MATRIX, [record("requests", v) for v in values])
    assert rejected == []
    natives = [v for b in items for v in b.native_features(columns=("income", "age"))]
    assert essence(events) == essence(native(NATIVE, [record("requests", v) for v in natives]))


@pytest.mark.parametrize("encoding", ["json", "protobuf typed", "protobuf raw"])
def test_responses_map_outputs_to_score_and_label(encoding: str) -> None:
    items = batches(10, seed=3)
    if encoding == "json":
        values = [_json(b.v2_response(version="7")) for b in items]
    else:
        values = [b.pb_response(use_raw=encoding == "protobuf raw", version="7") for b in items]
    events, rejected, _ = decode(CONFIG, [record("responses", v) for v in values])
    assert rejected == []
    natives = [v for b in items for v in b.native_predictions(version="7")]
    assert essence(events) == essence(native(NATIVE, [record("responses", v) for v in natives]))


def test_a_single_output_is_the_score_by_default() -> None:
    cfg = config(
        """
topics: {features: requests, predictions: responses}
formats: {responses: {type: open_inference}}
"""
    )
    body = {
        "model_name": "credit-risk",
        "id": "r1",
        "outputs": [{"name": "out", "shape": [3, 1], "datatype": "FP64", "data": [0.1, 0.5, 0.9]}],
    }
    events, rejected, _ = decode(cfg, [record("responses", _json(body))])
    assert rejected == []
    assert [(e.id, e.prediction) for e in events] == [
        ("r1/0", {"score": 0.1}),
        ("r1/1", {"score": 0.5}),
        ("r1/2", {"score": 0.9}),
    ]


def test_a_request_without_a_configured_model_needs_one_in_the_message() -> None:
    cfg = config(
        """
topics: {features: requests, predictions: responses}
formats: {requests: {type: open_inference}}
"""
    )
    item = batches(1, seed=4)[0]
    named = {**item.v2_request_columns(), "model_name": "credit-risk"}
    events, rejected, _ = decode(
        cfg,
        [record("requests", _json(named)), record("requests", _json(item.v2_request_columns()))],
    )
    assert len(events) == item.n
    assert [(r.reason, r.record.offset) for r in rejected] == [("unknown_model", 1)]
    assert "formats.requests.model" in rejected[0].detail
