"""What every input format shares: the result of reading one message, headers, models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.config import Config
from monitor.config_formats import FormatConfig
from monitor.events import Reasons, SourceRecord
from monitor.formats.oip import InferMessage, feature_rows, prediction_rows, row_ids
from monitor.formats.tensors import FormatError


class Skipped(Exception):
    """A message the format is configured not to read (counted, never dead-lettered)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Converted:
    """Native event bodies read from one message, and trace values found inside it."""

    bodies: list[dict[str, Any]]
    trace: dict[str, str] = field(default_factory=dict)


def header_map(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Kafka headers by lower-case name (the first of repeated names), as text."""
    result: dict[str, str] = {}
    for name, value in headers or ():
        key = name.lower()
        if value is not None and key not in result:
            result[key] = value.decode("utf-8", errors="replace")
    return result


class TopicFormat:
    """A format bound to one topic; subclasses implement :meth:`convert`."""

    def __init__(self, topic: str, fmt: FormatConfig, config: Config) -> None:
        self.topic = topic
        self.fmt = fmt
        self.features = {name: list(model.features) for name, model in config.models.items()}
        # Protobuf requests and responses look alike on the wire: a plain topic's role
        # (features or predictions) says which one its messages are.
        self.role = "request" if topic == config.topics.features else "response"

    def convert(self, record: SourceRecord) -> Converted:
        raise NotImplementedError

    def model(self, *candidates: str | None) -> str:
        if self.fmt.model is not None:
            return self.fmt.model
        for candidate in candidates:
            if candidate:
                return candidate
        raise FormatError(
            Reasons.UNKNOWN_MODEL,
            f"the message names no model: set formats.{self.topic}.model",
        )

    def bodies(
        self, message: InferMessage, event_id: str | None, model: str, ts: str | None
    ) -> list[dict[str, Any]]:
        """One native event body per row of a request or response."""
        if not event_id:
            raise FormatError(Reasons.INVALID_ID, "the message has no request id to join by")
        if message.kind == "request":
            part, rows = "features", feature_rows(message, self.fmt, self.features.get(model, []))
        else:
            part, rows = "prediction", prediction_rows(message, self.fmt)
        ids = row_ids(event_id, len(rows))
        result = []
        for row_id, row in zip(ids, rows, strict=True):
            body: dict[str, Any] = {"id": row_id, "model": model, part: row}
            if message.version is not None:
                body["version"] = message.version
            if ts is not None:
                body["ts"] = ts
            result.append(body)
        return result
