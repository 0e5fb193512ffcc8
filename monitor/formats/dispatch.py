"""The decoder the pipeline uses: per topic, the native decoder or a model-server format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from monitor.config import Config
from monitor.config_formats import FormatConfig
from monitor.decoder import Decoder
from monitor.events import Event, Reasons, Rejected, SourceRecord
from monitor.formats.base import Skipped, TopicFormat
from monitor.formats.headers import TraceHeaders
from monitor.formats.kserve import KServeCloudEventsFormat
from monitor.formats.open_inference import OpenInferenceFormat
from monitor.formats.seldon import SeldonFormat
from monitor.formats.tensors import FormatError
from monitor.metrics import Metrics

_encode = msgspec.json.Encoder().encode
_FORMATS: dict[str, type[TopicFormat]] = {
    "open_inference": OpenInferenceFormat,
    "kserve_cloudevents": KServeCloudEventsFormat,
    "seldon": SeldonFormat,
}
Origin = tuple[str, int, int]


def make_format(topic: str, fmt: FormatConfig, config: Config) -> TopicFormat:
    return _FORMATS[fmt.type](topic, fmt, config)


class _RowRecord:
    """One row of a model-server message, re-encoded as a native event for validation."""

    __slots__ = (
        "event_id",
        "headers",
        "key",
        "offset",
        "origin",
        "partition",
        "timestamp",
        "topic",
        "value",
    )

    def __init__(self, origin: SourceRecord, body: dict[str, Any]) -> None:
        self.origin = origin
        self.event_id = str(body["id"])
        self.topic = origin.topic
        self.partition = origin.partition
        self.offset = origin.offset
        self.timestamp = origin.timestamp
        self.key = origin.key
        self.headers = origin.headers
        self.value: bytes | None = _encode(body)


_headers_of = attrgetter("headers")


class InputDecoder:
    """Decodes a batch record by record in input order, each with its topic's format."""

    def __init__(self, config: Config, metrics: Metrics, now: Callable[[], float] | None = None):
        self.native = Decoder(config, now=now)
        self.metrics = metrics
        self.max_bytes = config.limits.max_message_bytes
        self.formats = {
            topic: make_format(topic, fmt, config)
            for topic, fmt in config.formats.items()
            if fmt.type != "native"
        }
        self.trace = TraceHeaders(config.trace_headers)

    def decode(
        self, records: Sequence[SourceRecord], *, same_batch: bool = False
    ) -> tuple[list[Event], list[Rejected]]:
        """``same_batch``: more records of the batch being decoded (see
        :meth:`monitor.decoder.Decoder.decode`)."""
        if not self.formats:
            events, rejected = self.native.decode(records, same_batch=same_batch)
            self._attach_native(events, records)
            return events, rejected
        events, rejected = [], []
        if not same_batch:
            self.native.release()
        # Consecutive records of one kind are decoded together: batches stay batches and
        # events keep the order of their records.
        start = 0
        while start < len(records):
            fmt = self.formats.get(records[start].topic)
            end = start + 1
            while end < len(records) and self.formats.get(records[end].topic) is fmt:
                end += 1
            run = records[start:end]
            if fmt is None:
                decoded, bad = self.native.decode(run, same_batch=True)
                self._attach_native(decoded, run)
            else:
                decoded, bad = self._decode_formatted(fmt, run)
            events.extend(decoded)
            rejected.extend(bad)
            start = end
        return events, rejected

    def release(self) -> None:
        """The batch is done: see :meth:`monitor.decoder.Decoder.release`."""
        self.native.release()

    def _attach_native(self, events: list[Event], records: Sequence[SourceRecord]) -> None:
        carried: dict[Origin, dict[str, str]] = {}
        # filter runs in C: most records carry no headers at all.
        for record in filter(_headers_of, records):
            picked = self.trace.pick(record.headers)
            if picked:
                carried[(record.topic, record.partition, record.offset)] = picked
        if carried:
            for event in events:
                event.headers = carried.get((event.topic, event.partition, event.offset))

    def _decode_formatted(
        self, fmt: TopicFormat, records: Sequence[SourceRecord]
    ) -> tuple[list[Event], list[Rejected]]:
        rows: list[Any] = []
        rejected: list[Rejected] = []
        carried: dict[Origin, dict[str, str] | None] = {}
        for record in records:
            value = record.value
            if value is None or len(value) == 0:
                rejected.append(Rejected(Reasons.EMPTY, "empty message", record))
                continue
            if len(value) > self.max_bytes:
                detail = f"{len(value)} bytes > limit {self.max_bytes}"
                rejected.append(Rejected(Reasons.OVERSIZED, detail, record))
                continue
            try:
                converted = fmt.convert(record)
            except FormatError as exc:
                rejected.append(Rejected(exc.reason, exc.detail, record))
                continue
            except Skipped as skip:
                self.metrics.records_skipped.labels(record.topic, skip.reason).inc()
                continue
            origin = (record.topic, record.partition, record.offset)
            carried[origin] = self.trace.pick(record.headers, converted.trace)
            rows.extend(_RowRecord(record, body) for body in converted.bodies)
        events, bad_rows = self.native.decode(rows)
        for event in events:
            event.headers = carried.get((event.topic, event.partition, event.offset))
        rejected.extend(_per_message(bad_rows))
        return events, rejected


def _per_message(bad_rows: list[Rejected]) -> list[Rejected]:
    """One dead letter per message, naming its bad rows; its good rows were kept."""
    grouped: dict[int, list[Rejected]] = {}
    for item in bad_rows:
        grouped.setdefault(id(item.record.origin), []).append(item)  # type: ignore[attr-defined]
    result = []
    for items in grouped.values():
        first = items[0]
        row: Any = first.record
        listed = ", ".join(repr(i.record.event_id) for i in items[:5])  # type: ignore[attr-defined]
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        detail = f"event {listed}{more}: {first.detail}"
        result.append(Rejected(first.reason, detail, row.origin))
    return result
