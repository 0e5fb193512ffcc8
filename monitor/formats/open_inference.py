"""Open Inference Protocol v2 messages written to Kafka as they are (JSON or protobuf).

The request id (``id``) joins a request on the features topic with its response on the
predictions topic; the model is the format's ``model`` or the message's ``model_name``.
"""

from __future__ import annotations

from monitor.events import Reasons, SourceRecord
from monitor.formats.base import Converted, TopicFormat
from monitor.formats.oip import InferMessage, decode_json, from_json_body, from_protobuf, is_json
from monitor.formats.tensors import FormatError


def read_message(value: bytes, encoding: str, kind: str, content_type: str = "") -> InferMessage:
    """JSON or protobuf by the first byte (or as configured), whatever a header claims."""
    looks_json = is_json(value)
    if encoding != "auto" and looks_json != (encoding == "json"):
        raise FormatError(
            Reasons.WRONG_CONTENT_TYPE,
            f"configured for {encoding}, the message is {'JSON' if looks_json else 'not JSON'}",
        )
    if looks_json:
        return from_json_body(decode_json(value))
    message = from_protobuf(value, "request" if kind == "request" else "response")
    if not message.tensors and message.id is None and message.model is None:
        shown = f" (content-type {content_type[:60]!r})" if content_type else ""
        raise FormatError(
            Reasons.WRONG_CONTENT_TYPE,
            f"the message is neither JSON nor a ModelInfer {kind}{shown}",
        )
    return message


class OpenInferenceFormat(TopicFormat):
    def convert(self, record: SourceRecord) -> Converted:
        assert record.value is not None
        message = read_message(record.value, self.fmt.encoding, self.role)
        model = self.model(message.model)
        return Converted(self.bodies(message, message.id, model, None))
