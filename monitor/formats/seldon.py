"""Seldon Core v2 model topics: ``<prefix>.<namespace>.model.<model>.inputs|outputs``.

Seldon writes a model's requests to its ``inputs`` topic and responses to its ``outputs``
topic as protobuf ``ModelInferRequest`` / ``ModelInferResponse`` (JSON is read too). The
model is in the topic name; the request id is the ``x-request-id`` header, else the last
part of the key ``<partition>.<resource>.<requestId>`` (or the older
``<resource>.<requestId>``). Both halves carry the same key, so with equally partitioned
topics they land in the same partition number and meet in one task.
"""

from __future__ import annotations

from monitor.config import Config
from monitor.config_formats import SELDON_TOPIC, FormatConfig
from monitor.events import SourceRecord
from monitor.formats.base import Converted, Skipped, TopicFormat, header_map
from monitor.formats.open_inference import read_message


def request_id_from_key(key: bytes | None) -> str | None:
    """``<partition>.<resource>.<requestId>`` or ``<resource>.<requestId>`` → requestId."""
    if not key:
        return None
    text = key.decode("utf-8", errors="replace")
    parts = text.split(".")
    if len(parts) >= 3 and parts[0].isdigit():
        return ".".join(parts[2:]) or None
    if len(parts) >= 2:
        return ".".join(parts[1:]) or None
    return text


class SeldonFormat(TopicFormat):
    def __init__(self, topic: str, fmt: FormatConfig, config: Config) -> None:
        super().__init__(topic, fmt, config)
        match = SELDON_TOPIC.match(topic)
        assert match is not None  # checked when the config was loaded
        self.topic_model = match["model"]
        self.role = "request" if match["side"] == "inputs" else "response"
        self.pipelines = frozenset(fmt.pipelines) if fmt.pipelines is not None else None

    def convert(self, record: SourceRecord) -> Converted:
        assert record.value is not None
        headers = header_map(record.headers)
        if self.pipelines is not None and headers.get("pipeline") not in self.pipelines:
            raise Skipped("pipeline")
        message = read_message(record.value, self.fmt.encoding, self.role)
        request_id = headers.get("x-request-id") or request_id_from_key(record.key) or message.id
        model = self.model(self.topic_model)
        return Converted(self.bodies(message, request_id, model, None))
