"""The native event format: events, rejections and their reasons.

A message on an input topic is one JSON object::

    {"id": "e-1", "model": "credit-risk", "version": "3", "ts": 1764300000.5,
     "features": {"income": 52000.0, "region": "eu"},
     "prediction": {"score": 0.83, "label": 1}, "attributes": {"gender": "f"}}

``attributes`` (optional) carries protected attributes for fairness monitoring: values
that are never model inputs, so they are never fed to drift tests or guardrails.
``ts`` is seconds since the epoch or an RFC 3339 string. An event may be split: a
features message (``id, model, ts, features``) and a predictions message
(``id, model, ts, prediction``) joined by ``(model, id)``; ground truth arrives later as
``{"id", "model", "ts", "label"}``. The decoder is :mod:`monitor.decoder`; this module
holds what it produces (events, rejections and their reasons) and what it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

import msgspec

from monitor.fastlane import ColumnBatch, FastValues

Scalar = float | str | bool | None


class SourceRecord(Protocol):
    """What a source hands the pipeline: kafka-python's ConsumerRecord has these fields.

    Read-only, so that any record-like object (a named tuple, a frozen dataclass, a test's
    record with ``value: bytes``) fits.
    """

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


class Event(msgspec.Struct, gc=False):
    """A validated event (or half of one), with where it came from.

    A struct without garbage-collector tracking: a batch creates thousands of these, and
    tracked objects made the collector's passes a large share of the hot path. An event
    never refers back to itself, so it cannot be part of a cycle.
    """

    model: str
    id: str
    ts: float
    version: str | None
    features: dict[str, Scalar] | FastValues | None
    prediction: dict[str, Scalar] | FastValues | None
    label: Scalar
    topic: str
    partition: int
    offset: int
    # Trace headers of the input message(s) (an allowlist, see monitor/formats/headers.py).
    headers: dict[str, str] | None = None
    # Protected attributes (categorical, canonical strings): for fairness monitoring only.
    attributes: dict[str, Scalar] | None = None
    # Fast-lane events: the batch's columns and this event's row in them.
    columns: ColumnBatch | None = None
    row: int = 0

    def __eq__(self, other: object) -> bool:
        # The batch's columns and the row are not part of the event's value: two decodes
        # of the same record are equal events.
        if not isinstance(other, Event):
            return NotImplemented
        return event_value(self) == event_value(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    @property
    def is_complete(self) -> bool:
        return self.features is not None and self.prediction is not None


# Field readers for whole batches: ``list(map(event_ts, events))`` runs in C, where a
# comprehension or generator runs a Python frame per event.
event_ts = attrgetter("ts")
event_model = attrgetter("model")
event_version = attrgetter("version")
event_partition = attrgetter("partition")
event_offset = attrgetter("offset")


def count_incomplete(events: Sequence[Event]) -> int:
    """Events that lack their features or their prediction (halves expired from the join)."""
    # One pass: a pass over a batch's events costs more in memory reads than in Python.
    return sum(1 for e in events if e.features is None or e.prediction is None)


def event_value(event: Event) -> tuple[Any, ...]:
    """Every field but the batch's columns and row, in the constructor's order: what makes
    two events equal, and what a checkpoint stores (``Event(*value)`` rebuilds it)."""
    return (
        event.model,
        event.id,
        event.ts,
        event.version,
        event.features,
        event.prediction,
        event.label,
        event.topic,
        event.partition,
        event.offset,
        event.headers,
        event.attributes,
    )


@dataclass(slots=True)
class Rejected:
    """A message that cannot be used: it goes to the dead-letter topic with its reason."""

    reason: str
    detail: str
    record: SourceRecord


class Reasons:
    OVERSIZED = "oversized"
    EMPTY = "empty"
    INVALID_JSON = "invalid_json"
    INVALID_UTF8 = "invalid_utf8"
    SCHEMA = "schema"
    NON_FINITE = "non_finite"
    UNKNOWN_MODEL = "unknown_model"
    INVALID_ID = "invalid_id"
    INVALID_TIMESTAMP = "invalid_timestamp"
    MISSING_FEATURE = "missing_feature"
    WRONG_TYPE = "wrong_type"
    MISSING_PART = "missing_part"
    JOIN_EXPIRED = "join_expired"
    # Model-server formats (monitor/formats/).
    INVALID_PROTOBUF = "invalid_protobuf"
    INVALID_CLOUDEVENT = "invalid_cloudevent"
    WRONG_CONTENT_TYPE = "wrong_content_type"
    UNKNOWN_DATATYPE = "unknown_datatype"
    SHAPE_MISMATCH = "shape_mismatch"
    TRUNCATED_TENSOR = "truncated_tensor"
    MISSING_TENSOR = "missing_tensor"

    @classmethod
    def all(cls) -> list[str]:
        return [value for name, value in vars(cls).items() if name.isupper()]


def parse_timestamp(value: float | str | None, fallback_ms: int) -> float:
    """Event time in epoch seconds; a message without ``ts`` takes the Kafka record time."""
    if value is None:
        return fallback_ms / 1000.0
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts {value[:40]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise ValueError("ts has no time zone")
        return parsed.timestamp()
    return float(value)


def categorical_value(value: Scalar) -> str | None:
    """Categories are strings; numbers and booleans are accepted and spelled canonically."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value.is_integer():
        return str(int(value))
    return repr(value)
