"""Damaged model-server messages never break decoding: events or a known dead-letter reason."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.events import Reasons
from tests.formats import builders as b
from tests.formats.records import config, decode, record

KNOWN = set(Reasons.all())
ITEM = b.batches(1, seed=21, max_rows=3)[0]
TIME = "2025-11-28T03:10:00Z"
SEEDS: list[tuple[str, bytes, list[tuple[str, bytes]]]] = [
    ("requests", msgspec.json.encode(ITEM.v2_request_columns()), []),
    ("requests", ITEM.pb_request_columns(use_raw=True), []),
    ("requests", ITEM.pb_request_matrix(use_raw=False), []),
    ("responses", ITEM.pb_response(use_raw=True), []),
    ("responses", msgspec.json.encode(ITEM.v2_response()), []),
]
OIP = config(
    """
topics: {features: requests, predictions: responses}
formats:
  requests: {type: open_inference, model: credit-risk}
  responses: {type: open_inference, outputs: {score: probability, score_column: 1}}
"""
)
KSERVE = config(
    """
topics: {features: logs, predictions: null}
formats: {logs: {type: kserve_cloudevents, outputs: {score: probability, score_column: 1}}}
"""
)


def damage(value: bytes, data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    if not value:
        return value
    at = data.draw(st.integers(0, len(value) - 1))
    if kind == "flip":
        return value[:at] + bytes([value[at] ^ data.draw(st.integers(1, 255))]) + value[at + 1 :]
    if kind == "cut":
        return value[:at]
    return value[:at] + data.draw(st.binary(min_size=1, max_size=8)) + value[at:]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_open_inference_messages(data: st.DataObject) -> None:
    topic, value, headers = data.draw(st.sampled_from(SEEDS))
    damaged = damage(value, data)
    _, rejected, _ = decode(OIP, [record(topic, damaged, headers=list(headers))])
    assert all(r.reason in KNOWN for r in rejected)
    assert len(rejected) <= 1


ATTRIBUTE = st.one_of(
    st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers(), max_size=2)
)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_structured_cloudevents_with_odd_attributes(data: st.DataObject) -> None:
    envelope = msgspec.json.decode(
        b.ce_structured("c1", b.CE_REQUEST, TIME, ITEM.v2_request_columns())
    )
    for key in data.draw(st.lists(st.sampled_from(sorted(envelope)), max_size=4)):
        envelope[key] = data.draw(ATTRIBUTE)
    logged = record("logs", msgspec.json.encode(envelope), headers=b.STRUCTURED_HEADERS)
    events, rejected, metrics = decode(KSERVE, [logged])
    assert all(r.reason in KNOWN for r in rejected)
    skipped = metrics.registry.get_sample_value(
        "driftd_records_skipped_total", {"topic": "logs", "reason": "component"}
    )
    # Every message is accounted for: events, one dead letter, or skipped and counted.
    assert len(events) == ITEM.n or len(rejected) == 1 or skipped == 1
