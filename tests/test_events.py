"""Decoding and validation of native events, one rejection reason at a time."""

from __future__ import annotations

import msgspec
import pytest

from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.events import Reasons, categorical_value, parse_timestamp
from monitor.replay import FileRecord

CONFIG = parse_config(
    """
topics: {labels: labels}
limits: {max_message_bytes: 1000}
models:
  m:
    features:
      x: {type: numeric, required: true}
      y: {type: numeric}
      c: {type: categorical}
"""
)
NOW = 1_764_300_000.0
RECORD_MS = 1_764_300_000_000


def decode(*values: bytes | None, topic: str = "driftd.features"):
    records = [
        FileRecord(topic, partition=0, offset=i, timestamp=RECORD_MS, value=v)
        for i, v in enumerate(values)
    ]
    return Decoder(CONFIG, now=lambda: NOW).decode(records)


def enc(**body: object) -> bytes:
    base = {"id": "a", "model": "m", "ts": NOW, "features": {"x": 1.0, "c": "eu"}}
    return msgspec.json.encode({**base, **body})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", Reasons.EMPTY),
        (None, Reasons.EMPTY),
        (b"{" * 2000, Reasons.OVERSIZED),
        (b"{not json", Reasons.INVALID_JSON),
        (b'{"id": "\xc3\x28", "model": "m"}', Reasons.INVALID_UTF8),
        (b'{"id": "a", "model": "m", "features": {"x": NaN}}', Reasons.NON_FINITE),
        (b'{"id": "a", "model": "m", "features": {"x": -Infinity}}', Reasons.NON_FINITE),
        (b'{"id": "a", "model": "m", "features": {"x": 1e999}}', Reasons.NON_FINITE),
        (enc(id=5), Reasons.SCHEMA),
        (b'{"model": "m", "features": {}}', Reasons.SCHEMA),
        (b'{"id": "a", "features": {}}', Reasons.SCHEMA),
        (b"[1, 2]", Reasons.SCHEMA),
        (enc(features={"x": {"nested": 1}}), Reasons.SCHEMA),
        (enc(model="other"), Reasons.UNKNOWN_MODEL),
        (enc(id=""), Reasons.INVALID_ID),
        (enc(id="x" * 300), Reasons.INVALID_ID),
        (enc(ts="2026-13-40"), Reasons.INVALID_TIMESTAMP),
        (enc(ts="2026-11-28T04:45:00"), Reasons.INVALID_TIMESTAMP),
        (enc(ts=NOW + 10 * 86400), Reasons.INVALID_TIMESTAMP),
        (enc(ts=12.0), Reasons.INVALID_TIMESTAMP),
        (enc(features={"y": 1.0}), Reasons.MISSING_FEATURE),
        (enc(features={"x": "1.5"}), Reasons.WRONG_TYPE),
        (enc(features={"x": True}), Reasons.WRONG_TYPE),
        (enc(features={"x": 1.0, "c": "z" * 300}), Reasons.WRONG_TYPE),
        (enc(prediction={"score": "high"}), Reasons.WRONG_TYPE),
        (b'{"id": "a", "model": "m"}', Reasons.MISSING_PART),
    ],
)
def test_each_bad_message_gets_its_reason(value: bytes | None, reason: str) -> None:
    events, rejected = decode(value)
    assert events == []
    assert [r.reason for r in rejected] == [reason]
    assert rejected[0].detail


def test_good_events_in_a_batch_survive_bad_neighbours() -> None:
    events, rejected = decode(enc(id="1"), enc(id="2", features={"y": 2.0}), enc(id="3"))
    assert [e.id for e in events] == ["1", "3"]
    assert [(r.reason, r.record.offset) for r in rejected] == [(Reasons.MISSING_FEATURE, 1)]


def test_timestamps_and_versions() -> None:
    events, _ = decode(
        enc(ts="2025-11-28T04:45:00Z", version=3),
        enc(ts="2025-11-28T05:45:00+01:00"),
        b'{"id": "n", "model": "m", "features": {"x": 1}}',
    )
    assert events[0].ts == events[1].ts == parse_timestamp("2025-11-28T04:45:00+00:00", 0)
    assert events[0].version == "3"
    assert events[2].ts == 1_764_300_000.0  # no ts: the record's timestamp


def test_categorical_values_are_spelled_canonically() -> None:
    events, rejected = decode(
        enc(features={"x": 1.0, "c": 7}), enc(features={"x": 1.0, "c": False})
    )
    assert not rejected
    assert [e.features["c"] for e in events] == ["7", "false"]
    assert categorical_value(2.5) == "2.5"


def test_labels_need_a_label() -> None:
    events, rejected = decode(
        b'{"id": "a", "model": "m", "label": 1}', b'{"id": "b", "model": "m"}', topic="labels"
    )
    assert [e.label for e in events] == [1.0]
    assert [r.reason for r in rejected] == [Reasons.MISSING_PART]


def test_split_halves_are_not_complete() -> None:
    events, _ = decode(enc(features={"x": 1.0}), enc(features=None, prediction={"score": 0.3}))
    assert [e.is_complete for e in events] == [False, False]
    events, _ = decode(enc(prediction={"score": 0.3, "label": 1}))
    assert events[0].is_complete
