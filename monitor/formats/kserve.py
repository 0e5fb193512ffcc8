"""KServe inference-logger events on Kafka: CloudEvents in binary or structured mode.

Binary mode carries the CloudEvent attributes as ``ce_*`` headers and the HTTP body as the
value; structured mode (``content-type: application/cloudevents+json``) wraps attributes
and body in one JSON object (``data``, or ``data_base64`` for a binary body). ``ce_type``
``org.kubeflow.serving.inference.request`` / ``.response`` says which half it is, ``ce_id``
joins them, the model is ``ce_inferenceservicename`` (else the V2 ``model_name``). Bodies
may be V1 (instances / predictions) or V2, JSON or protobuf: the body's own first byte
decides, since the logger copies the response's content type from the model server.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from monitor.events import Reasons, SourceRecord
from monitor.formats import kserve_v1
from monitor.formats.base import Converted, Skipped, TopicFormat, header_map
from monitor.formats.oip import decode_json, from_json_body, row_ids
from monitor.formats.open_inference import read_message
from monitor.formats.tensors import FormatError

STRUCTURED = "application/cloudevents+json"
REQUEST_SUFFIX = ".inference.request"
RESPONSE_SUFFIX = ".inference.response"


class KServeCloudEventsFormat(TopicFormat):
    def convert(self, record: SourceRecord) -> Converted:
        assert record.value is not None
        headers = header_map(record.headers)
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() == STRUCTURED:
            attributes, body = _structured(record.value)
        else:
            attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce_")}
            body = record.value
        event_id, ce_type = attributes.get("id"), attributes.get("type")
        if not isinstance(event_id, str) or not event_id:
            raise FormatError(Reasons.INVALID_CLOUDEVENT, "the CloudEvent has no id")
        if not isinstance(ce_type, str):
            raise FormatError(Reasons.INVALID_CLOUDEVENT, "the CloudEvent has no type")
        if ce_type.endswith(REQUEST_SUFFIX):
            kind = "request"
        elif ce_type.endswith(RESPONSE_SUFFIX):
            kind = "response"
        else:
            raise FormatError(
                Reasons.INVALID_CLOUDEVENT,
                f"type {ce_type[:80]!r} is not an inference request or response",
            )
        component = attributes.get("component")
        if component is not None and not isinstance(component, str):
            raise FormatError(Reasons.INVALID_CLOUDEVENT, "component must be a string")
        if component and component not in self.fmt.read_components:
            raise Skipped("component")
        time = attributes.get("time")
        ts = time if isinstance(time, str) and time else None
        service = attributes.get("inferenceservicename")
        trace = {"ce_id": event_id}
        if isinstance(attributes.get("traceparent"), str):
            trace["ce_traceparent"] = attributes["traceparent"]
        if isinstance(body, dict):
            parsed = body
        elif isinstance(body, bytes | bytearray):
            if not body:
                raise FormatError(Reasons.EMPTY, "the CloudEvent has no data")
            if body.lstrip()[:1] == b"{":
                parsed = decode_json(bytes(body))
            else:
                message = read_message(bytes(body), self.fmt.encoding, kind, content_type)
                model = self.model(service if isinstance(service, str) else None, message.model)
                return Converted(self.bodies(message, event_id, model, ts), trace)
        else:
            raise FormatError(
                Reasons.WRONG_CONTENT_TYPE,
                f"CloudEvent data is a {type(body).__name__}, not an inference body",
            )
        if kserve_v1.is_v1(parsed):
            model = self.model(service if isinstance(service, str) else None)
            return Converted(self._v1(parsed, kind, event_id, model, ts), trace)
        message = from_json_body(parsed)
        if message.kind != kind:
            raise FormatError(Reasons.SCHEMA, f"type says {kind}, the body is a {message.kind}")
        model = self.model(service if isinstance(service, str) else None, message.model)
        return Converted(self.bodies(message, event_id, model, ts), trace)

    def _v1(
        self, body: dict[str, Any], kind: str, event_id: str, model: str, ts: str | None
    ) -> list[dict[str, Any]]:
        if kind == "request":
            part = "features"
            rows = kserve_v1.instance_rows(body, self.fmt, self.features.get(model, []))
        else:
            part, rows = "prediction", kserve_v1.prediction_rows(body, self.fmt)
        result = []
        for row_id, row in zip(row_ids(event_id, len(rows)), rows, strict=True):
            item: dict[str, Any] = {"id": row_id, "model": model, part: row}
            if ts is not None:
                item["ts"] = ts
            result.append(item)
        return result


def _structured(value: bytes) -> tuple[dict[str, Any], Any]:
    envelope = decode_json(value)
    if not isinstance(envelope, dict) or "specversion" not in envelope:
        raise FormatError(
            Reasons.INVALID_CLOUDEVENT, "a structured CloudEvent is a JSON object with specversion"
        )
    if "data_base64" in envelope:
        try:
            data: Any = base64.b64decode(envelope["data_base64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise FormatError(Reasons.INVALID_CLOUDEVENT, "data_base64 is not base64") from None
    elif "data" in envelope:
        data = envelope["data"]
        if isinstance(data, str):
            data = data.encode()  # a JSON body sent as a string
    else:
        raise FormatError(Reasons.INVALID_CLOUDEVENT, "the CloudEvent has no data")
    attributes = {k.lower(): v for k, v in envelope.items() if k not in ("data", "data_base64")}
    return attributes, data
