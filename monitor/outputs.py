"""Records the pipeline asks to be written, and their encodings."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor import __version__
from monitor.events import Event, Rejected

_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class OutputRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def dead_letter(rejected: Rejected, topic: str) -> OutputRecord:
    """``{reason, detail, source: {topic, partition, offset, timestamp}, payload}``.

    The payload is kept as text when it is valid UTF-8, else base64 in ``payload_base64``,
    so that nothing of the original message is lost.
    """
    record = rejected.record
    value = record.value or b""
    body: dict[str, Any] = {
        "reason": rejected.reason,
        "detail": rejected.detail,
        "source": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
        },
        "driftd_version": __version__,
    }
    try:
        body["payload"] = value.decode("utf-8")
    except UnicodeDecodeError:
        body["payload_base64"] = base64.b64encode(value).decode("ascii")
    if record.key is not None:
        body["key_base64"] = base64.b64encode(record.key).decode("ascii")
    headers = [(k, v) for k, v in (record.headers or []) if v is not None]
    headers.append(("driftd-reason", rejected.reason.encode()))
    return OutputRecord(topic, _encode(body), record.key, headers)


def event_body(event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event.id,
        "model": event.model,
        "version": event.version,
        "ts": event.ts,
        "features": event.features,
        "prediction": event.prediction,
    }
    if event.headers:
        body["headers"] = event.headers
    if event.attributes is not None:
        body["attributes"] = event.attributes
    return body


def trace_headers(event: Event) -> list[tuple[str, bytes]]:
    """The event's carried trace headers, as Kafka headers of the records it causes."""
    return [(name, value.encode()) for name, value in (event.headers or {}).items()]


def joined_event(event: Event, topic: str) -> OutputRecord:
    return OutputRecord(
        topic, _encode(event_body(event)), event.model.encode(), trace_headers(event)
    )


def encode_json(value: Any) -> bytes:
    return _encode(value)
