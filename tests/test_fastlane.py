"""The decoder's fast lane reaches the same events and rejections as the general path.

Every record is decoded twice: by the decoder as configured, and by one whose fast lane
accepts nothing (so every record takes the general path, the reference). Events must agree
field by field (features and prediction compared as dictionaries), rejections reason by
reason, for a mix of good records and every kind of bad one, in record order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import pytest

from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.events import Event
from monitor.fastlane import fast_rows
from monitor.guardrails.batch import DecisionBatch
from monitor.replay import FileRecord

CONFIG = parse_config(
    """
topics: {labels: labels}
limits: {max_message_bytes: 2000, max_category_length: 8, max_id_length: 12}
models:
  m:
    features:
      x: {type: numeric, required: true}
      y: {type: numeric}
      c: {type: categorical}
      d: {type: categorical, required: true}
  n:
    features:
      z: {type: numeric}
"""
)
NOW = 1_764_300_000.0


def record(value: bytes | None, topic: str = "driftd.features", offset: int = 0) -> FileRecord:
    return FileRecord(topic, partition=0, offset=offset, timestamp=1_764_300_000_000, value=value)


class _NoFastLane:
    def decode_all(self, values: Sequence[bytes]) -> tuple[list[Any], list[int]]:
        return [None] * len(values), list(range(len(values)))


def enc(**body: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "a",
        "model": "m",
        "ts": NOW,
        "features": {"x": 1.0, "y": 2.0, "c": "eu", "d": "web"},
        "prediction": {"score": 0.7, "label": 1},
    }
    base.update(body)
    return msgspec.json.encode(base)


MESSAGES = [
    enc(),
    enc(id="b", features={"x": 3.0, "d": "app"}),  # optional features absent
    enc(id="c", features={"x": 3.0, "y": None, "c": None, "d": "app"}),  # explicit nulls
    enc(id="d", model="n", features={"z": 1.5}, prediction={"score": 0.1}),
    enc(id="e", features={"x": 1.0, "d": "web", "extra": 5.0}),  # undeclared: general path
    enc(id="f", features={"x": 1.0, "d": 7}),  # a number as category: general path
    enc(id="g", features={"y": 1.0, "d": "web"}),  # required x missing
    enc(id="h", features={"x": 1.0, "c": "eu"}),  # required d missing
    enc(id="i", features={"x": "1.5", "d": "web"}),  # wrong type
    enc(id="j", features={"x": True, "d": "web"}),  # a boolean is not a number
    enc(id="k", features={"x": 1.0, "d": "z" * 9}),  # category too long
    enc(id="", features={"x": 1.0, "d": "web"}),  # empty id
    enc(id="x" * 13),  # id too long
    enc(id="l", ts=12.0),  # before min_timestamp
    enc(id="m", ts=NOW + 10 * 86400),  # in the future
    enc(id="n", ts="2025-11-28T04:45:00Z"),  # RFC 3339
    enc(id="o", ts="2025-11-28T04:45:00"),  # no time zone
    enc(id="p", ts=None),  # the record's time
    enc(id="q", model="other"),
    enc(id="r", prediction={"score": "high"}),
    enc(id="s", prediction={"score": 0.2, "label": None, "value": 3.0}),
    enc(id="t", prediction=None),  # a features half
    enc(id="u", features=None),  # a predictions half
    enc(id="v", version=4),
    enc(id="y", attributes={"gender": "f", "band": 3}),  # attributes, one canonicalised
    enc(id="z", attributes={"gender": "f" * 9}),  # attribute too long
    b'{"id": "w", "model": "m", "features": {"x": NaN, "d": "web"}, "prediction": {}}',
    b"not json",
    b"",
    None,
    enc(id="aa", label=1),  # a full event with its label: the general path keeps it
    enc(id="ab", label=[1]),  # a label that is no scalar
    enc(id="ac", label={"y": 1}),
    enc(id="ad", junk={"nested": [1, 2]}),  # unknown top-level keys are ignored
    enc(id="ae", ts="1764300000.5"),  # a number in a string is no RFC 3339 time
    enc(id="af", ts="nan"),
]


def _records() -> list[FileRecord]:
    records = [record(v, offset=i) for i, v in enumerate(MESSAGES)]
    records.append(record(b'{"id": "a", "model": "m", "label": 1}', topic="labels", offset=99))
    return records


def _plain(event: Event) -> dict[str, Any]:
    out = {
        name: getattr(event, name)
        for name in (
            "model",
            "id",
            "ts",
            "version",
            "label",
            "topic",
            "partition",
            "offset",
            "attributes",
        )
    }
    for part in ("features", "prediction"):
        values = getattr(event, part)
        out[part] = None if values is None else dict(values.items())
    return out


def _decode(fast: bool, records: list[FileRecord] | None = None) -> tuple[list[Event], list[Any]]:
    decoder = Decoder(CONFIG, now=lambda: NOW)
    if not fast:
        decoder.fast_lane.decode_all = _NoFastLane().decode_all  # type: ignore[method-assign]
    return decoder.decode(_records() if records is None else records)


@pytest.mark.parametrize(
    "chosen",
    [
        None,  # all at once
        [0, 17],  # numeric and absent times only
        [0, 15],  # numeric and RFC 3339 times
        [0, 34],  # numeric times and a number in a string
        [0, 13, 14],  # out-of-range times only
        [1, 2, 6, 7, 10],  # feature checks only
    ],
)
def test_fast_lane_agrees_with_the_general_path(chosen: list[int] | None) -> None:
    records = None if chosen is None else [_records()[i] for i in chosen]
    fast_events, fast_rejected = _decode(True, records)
    slow_events, slow_rejected = _decode(False, records)
    assert [_plain(e) for e in fast_events] == [_plain(e) for e in slow_events]
    by_offset = sorted((r.record.offset, r.reason, r.detail) for r in fast_rejected)
    assert by_offset == sorted((r.record.offset, r.reason, r.detail) for r in slow_rejected)
    if chosen is None:  # most good records really took the fast lane
        assert sum(e.columns is not None for e in fast_events) >= 6


def test_fast_lane_columns_are_the_events_values() -> None:
    events, _ = _decode(fast=True)
    model_m = [e for e in events if e.model == "m" and e.columns is not None]
    found = fast_rows(model_m)
    assert found is not None
    columns, rows = found
    expected_x = [e.features.get("x") for e in model_m]  # type: ignore[union-attr]
    expected_y = [e.features.get("y") for e in model_m]  # type: ignore[union-attr]
    np.testing.assert_array_equal(columns.numeric["x"][rows], np.array(expected_x, float))
    np.testing.assert_array_equal(columns.numeric["y"][rows], np.array(expected_y, float))
    # Guardrail columns from the fast lane equal those built from the events' values.
    fast_batch = DecisionBatch.from_events(model_m, CONFIG.models["m"])
    plain = [Event(*[getattr(e, f) for f in Event.__struct_fields__][:10]) for e in model_m]
    for event, copy in zip(model_m, plain, strict=True):
        copy.features = dict(event.features.items())  # type: ignore[union-attr]
        copy.prediction = dict(event.prediction.items())  # type: ignore[union-attr]
    slow_batch = DecisionBatch.from_events(plain, CONFIG.models["m"])
    for name in ("x", "y"):
        np.testing.assert_array_equal(fast_batch.numeric[name], slow_batch.numeric[name])
    for name in ("c", "d"):
        assert fast_batch.categorical[name].tolist() == slow_batch.categorical[name].tolist()
    np.testing.assert_array_equal(fast_batch.score, slow_batch.score)
    np.testing.assert_array_equal(fast_batch.label, slow_batch.label)


def test_fast_values_read_and_encode_like_the_dictionary() -> None:
    events, _ = _decode(fast=True)
    event = next(e for e in events if e.id == "b")
    assert event.columns is not None
    features = event.features
    assert features is not None
    assert dict(features.items()) == {"x": 3.0, "d": "app"}
    assert features.get("y") is None and "y" not in features and "x" in features
    assert features == {"x": 3.0, "d": "app"}
    assert msgspec.json.decode(msgspec.json.encode(features)) == {"x": 3.0, "d": "app"}


def _good(number: int) -> bytes:
    if number % 3 == 2:  # the other model, interleaved
        return enc(id=f"g{number}", model="n", features={"z": float(number)}, prediction={})
    return enc(id=f"g{number}", features={"x": float(number), "d": "web"})


def test_decode_all_goes_on_after_each_failure() -> None:
    lane = Decoder(CONFIG, now=lambda: NOW).fast_lane
    bad = [m for m in MESSAGES if m and lane.decode(m) is None]
    values = [bad[0], *map(_good, range(5)), bad[1], bad[2], _good(5), bad[3]]
    raws, failed = lane.decode_all(values)
    assert raws == [lane.decode(v) for v in values]
    assert failed == [0, 6, 7, 9]
    assert lane.decode_all([]) == ([], [])


@pytest.mark.parametrize("spread", ["start", "middle", "end", "everywhere"])
def test_a_batch_of_good_records_with_bad_ones_among_them(spread: str) -> None:
    """The batch's good records still take the fast lane; every record gets the outcome of
    the general path, and events keep record order."""
    good: list[bytes | None] = [_good(i) for i in range(40)]
    odd: list[bytes | None] = MESSAGES[1:]  # every kind of record but the first, plain one
    at = {"start": 0, "middle": 20, "end": 40}
    if spread == "everywhere":
        values = [v for pair in zip(good, odd, strict=False) for v in pair]
        values += good[len(odd) :] + odd[len(good) :]
    else:
        values = good[: at[spread]] + odd + good[at[spread] :]
    records = [record(v, offset=i) for i, v in enumerate(values)]
    records.insert(7, record(b'{"id": "g1", "model": "m", "label": 1}', topic="labels"))
    fast_events, fast_rejected = _decode(True, records)
    slow_events, slow_rejected = _decode(False, records)
    assert [_plain(e) for e in fast_events] == [_plain(e) for e in slow_events]
    by_offset = sorted((r.record.offset, r.reason, r.detail) for r in fast_rejected)
    assert by_offset == sorted((r.record.offset, r.reason, r.detail) for r in slow_rejected)
    taken = {e.id for e in fast_events if e.columns is not None}
    assert {f"g{i}" for i in range(40)} <= taken
    place = {(r.topic, r.offset): i for i, r in enumerate(records)}
    order = [place[(e.topic, e.offset)] for e in fast_events]
    assert order == sorted(order)


# The same model alone: the decoder's usual configuration, one fast lane.
ONE_MODEL = CONFIG.model_copy(update={"models": {"m": CONFIG.models["m"]}})


def _varied(number: int) -> bytes:
    """Records that differ where the columns and checks differ: absent and null optional
    features, RFC 3339 times, out-of-range times, a missing required feature."""
    features: dict[str, Any] = {"x": float(number), "y": number / 7, "c": "eu", "d": "web"}
    prediction = {"score": (number % 93) / 100, "label": int(number % 7 > 2)}
    body: dict[str, Any] = {"id": f"v{number}", "features": features, "prediction": prediction}
    if number % 97 == 5:
        del features["y"], features["c"]
    if number % 101 == 7:
        features["y"] = None
    if number % 89 == 3:
        body["ts"] = "2025-11-28T04:45:00Z"
    if number % 113 == 9:
        body["ts"] = 12.0
    if number % 131 == 11:
        del features["d"]
    return enc(**body)


@pytest.mark.parametrize("with_labels", [False, True])
@pytest.mark.parametrize("bad_at", [None, 0, 399, 400, 1050])
def test_a_long_batch_of_one_model(bad_at: int | None, with_labels: bool) -> None:
    """With one model configured (the decoder's usual batch), the events, their columns
    and the rejections of a long batch are those of the general path, wherever a record
    the fast lane refuses sits, with labels among the decisions or not."""
    values = [_varied(i) for i in range(1100)]
    if bad_at is not None:
        values[bad_at] = enc(id="bad", features={"x": "1.5", "d": "web"})
    records = [record(v, offset=i) for i, v in enumerate(values)]
    if with_labels:
        for i in (3, 450, 900):
            label = msgspec.json.encode({"id": f"v{i}", "model": "m", "label": 1})
            records.insert(i, record(label, topic="labels", offset=i))

    def decode(fast: bool) -> tuple[list[Event], list[Any]]:
        decoder = Decoder(ONE_MODEL, now=lambda: NOW)
        if not fast:
            decoder.fast_lane.decode_all = _NoFastLane().decode_all  # type: ignore[method-assign]
        return decoder.decode(records)

    fast_events, fast_rejected = decode(True)
    slow_events, slow_rejected = decode(False)
    assert [_plain(e) for e in fast_events] == [_plain(e) for e in slow_events]
    by_offset = sorted((r.record.topic, r.record.offset, r.reason) for r in fast_rejected)
    assert by_offset == sorted((r.record.topic, r.record.offset, r.reason) for r in slow_rejected)
    decisions = [e for e in fast_events if e.topic != "labels"]
    assert all(e.columns is not None for e in decisions if e.id != "bad")
    found = fast_rows([e for e in decisions if e.columns is not None])
    assert found is not None  # one column batch for the whole batch
    columns, rows = found
    for name in ("x", "y"):
        expected = [e.features.get(name) for e in decisions if e.columns is not None]  # type: ignore[union-attr]
        np.testing.assert_array_equal(columns.numeric[name][rows], np.array(expected, float))
    fast = [e for e in decisions if e.columns is not None]
    picked = np.arange(len(columns.score))[rows].tolist()
    assert [columns.categorical["c"][i] for i in picked] == [e.features.get("c") for e in fast]  # type: ignore[union-attr]
    assert [columns.label[i] for i in picked] == [e.prediction.get("label") for e in fast]  # type: ignore[union-attr]
    scores = [e.prediction.get("score") for e in fast]  # type: ignore[union-attr]
    np.testing.assert_array_equal(columns.score[rows], np.array(scores, float))
