"""Decoding and validating the native event format (see :mod:`monitor.events`).

Decoding is done by msgspec straight into a typed struct (the fastest validating JSON
decoder for Python). Well-formed complete events of a configured model take the fast lane
(:mod:`monitor.fastlane`); anything else takes the general path here, which names the
precise dead-letter reason. Checks that span a model's features run per batch and column.
"""

from __future__ import annotations

import math
import re
import time
from array import array
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import attrgetter, is_, is_not, not_
from typing import Any, cast

import msgspec
import numpy as np

from monitor.config import Config, ModelConfig
from monitor.events import (
    Event,
    Reasons,
    Rejected,
    Scalar,
    SourceRecord,
    categorical_value,
    parse_timestamp,
)
from monitor.fastlane import ColumnBatch, FastLane, ModelLane
from monitor.feature_checks import check_features


class RawEvent(msgspec.Struct, gc=False):
    id: str
    model: str
    ts: float | str | None = None
    version: str | int | None = None
    features: dict[str, Scalar] | None = None
    prediction: dict[str, Scalar] | None = None
    label: Scalar = None
    attributes: dict[str, Scalar] | None = None


_DECODER = msgspec.json.Decoder(RawEvent)
_value_of = attrgetter("value")
_topic_of = attrgetter("topic")
_partition_of = attrgetter("partition")
_offset_of = attrgetter("offset")


class Decoder:
    """Turns a batch of records into validated events and rejections."""

    def __init__(self, config: Config, now: Any = None) -> None:
        self.config = config
        self.limits = config.limits
        self.models: dict[str, ModelConfig] = dict(config.models)
        self.label_topic = config.topics.labels
        self._now = now
        self.fast_lane = FastLane(self.models, self.limits)
        # Column batches whose events are attached to them (a reference cycle the
        # collector cannot see, through the untracked events): released explicitly.
        self._attached: list[ColumnBatch] = []

    def release(self) -> None:
        """Detach the events of the column batches decoded so far (the batch is done)."""
        for columns in self._attached:
            columns.events = None
        self._attached.clear()

    def decode(
        self, records: Sequence[SourceRecord], *, same_batch: bool = False
    ) -> tuple[list[Event], list[Rejected]]:
        """Events and rejections of ``records``. A new batch releases the previous one's
        column batches; ``same_batch`` decodes one more run of records of the current one."""
        if not same_batch:
            self.release()
        rejected: list[Rejected] = []
        n = len(records)
        # The fast lane first: it rejects nothing, so the rejections keep the order of
        # before (the general path's in record order, then each model's).
        positions, general, values = self._fast_candidates(records)
        raws, failed = self.fast_lane.decode_all(values)
        if failed:  # those take the general path
            general = sorted(general + list(map(positions.__getitem__, failed)))
            taken = list(map(is_not, raws, repeat(None)))
            positions = list(compress(positions, taken))
            raws = list(compress(raws, taken))
        kinds: list[type] | None = None  # with one model configured, all are of one kind
        models = [type(raws[0])] if raws else []
        if len(self.fast_lane.lanes) > 1:
            kinds = list(map(type, raws))
            models = list(dict.fromkeys(kinds))  # in the order they first appear
        if not general and len(models) == 1:  # the usual batch: one model, all fast
            events = self._fast_events(self.fast_lane.lane_of(models[0]), raws, records, rejected)
            if rejected:
                return [e for e in events if e is not None], rejected
            return cast(list[Event], events), rejected  # no row was rejected: no None
        slots: list[Event | None] = [None] * n
        if general:
            self._decode_general(records, general, rejected, slots)
        for kind in models:
            at, mine = positions, raws
            if kinds is not None:
                chosen = list(map(is_, kinds, repeat(kind)))
                at, mine = list(compress(positions, chosen)), list(compress(raws, chosen))
            lane = self.fast_lane.lane_of(kind)
            events = self._fast_events(lane, mine, list(map(records.__getitem__, at)), rejected)
            for position, event in zip(at, events, strict=True):
                slots[position] = event
        return [e for e in slots if e is not None], rejected

    def _fast_candidates(
        self, records: Sequence[SourceRecord]
    ) -> tuple[Sequence[int], list[int], list[bytes]]:
        """The records the fast lane may take (positions and values) and the others'
        positions: the fast lane takes non-empty messages within the limit, not labels."""
        values = list(map(_value_of, records))
        topics = list(map(_topic_of, records))
        label_topic = self.label_topic
        limit = self.limits.max_message_bytes
        if all(values) and max(map(len, values), default=0) <= limit:
            if label_topic not in topics:
                return range(len(records)), [], values  # the usual batch: checked in C
            # Decisions and labels: told apart in C too.
            is_label = list(map(label_topic.__eq__, topics))
            general = list(compress(range(len(records)), is_label))
            positions = list(compress(range(len(records)), map(not_, is_label)))
            return positions, general, list(map(values.__getitem__, positions))
        positions = []
        general = []
        for i, (value, topic) in enumerate(zip(values, topics, strict=True)):
            if value and len(value) <= limit and topic != label_topic:
                positions.append(i)
            else:
                general.append(i)
        return positions, general, list(map(values.__getitem__, positions))

    def _decode_general(
        self,
        records: Sequence[SourceRecord],
        general: list[int],
        rejected: list[Rejected],
        slots: list[Event | None],
    ) -> None:
        """The general path for the records at ``general``; events go into ``slots``."""
        events: list[Event] = []
        origins: list[SourceRecord] = []
        at: list[int] = []
        for position in general:
            record = records[position]
            event = self._decode_one(record, rejected)
            if event is not None:
                events.append(event)
                origins.append(record)
                at.append(position)
        if not events:
            return
        checked = check_features(events, origins, rejected, self.models, self.limits)
        if len(checked) == len(events):
            for position, event in zip(at, events, strict=True):
                slots[position] = event
            return
        kept = {id(e) for e in checked}
        for position, event in zip(at, events, strict=True):
            if id(event) in kept:
                slots[position] = event

    def _decode_one(self, record: SourceRecord, rejected: list[Rejected]) -> Event | None:
        """The general path: any record, with a precise reason for a bad one."""
        limits = self.limits
        value = record.value
        if value is None or len(value) == 0:
            rejected.append(Rejected(Reasons.EMPTY, "empty message", record))
            return None
        if len(value) > limits.max_message_bytes:
            detail = f"{len(value)} bytes > limit {limits.max_message_bytes}"
            rejected.append(Rejected(Reasons.OVERSIZED, detail, record))
            return None
        try:
            raw = _DECODER.decode(value)
        except msgspec.ValidationError as exc:
            detail = str(exc)[:300]
            reason = Reasons.NON_FINITE if "out of range" in detail else Reasons.SCHEMA
            rejected.append(Rejected(reason, detail, record))
            return None
        except UnicodeDecodeError as exc:
            rejected.append(Rejected(Reasons.INVALID_UTF8, str(exc.reason), record))
            return None
        except msgspec.DecodeError as exc:
            reason = Reasons.NON_FINITE if _mentions_nan(value) else Reasons.INVALID_JSON
            rejected.append(Rejected(reason, str(exc), record))
            return None
        except RecursionError:
            # msgspec recurses into nested values (even of unknown keys it skips): a
            # message nested ~1000 deep must not fail the whole batch.
            rejected.append(Rejected(Reasons.INVALID_JSON, "JSON nested too deeply", record))
            return None
        problem = self._check_envelope(raw, record)
        if problem is not None:
            rejected.append(Rejected(problem[0], problem[1], record))
            return None
        try:
            ts = parse_timestamp(raw.ts, record.timestamp)
        except ValueError as exc:
            rejected.append(Rejected(Reasons.INVALID_TIMESTAMP, str(exc), record))
            return None
        if not self._timestamp_ok(ts):
            rejected.append(Rejected(Reasons.INVALID_TIMESTAMP, self._ts_detail(ts), record))
            return None
        version = None if raw.version is None else str(raw.version)
        if raw.attributes:
            bad_attribute = self._check_attributes(raw.attributes)
            if bad_attribute is not None:
                rejected.append(Rejected(Reasons.WRONG_TYPE, bad_attribute, record))
                return None
        return Event(
            raw.model,
            raw.id,
            ts,
            version,
            raw.features,
            raw.prediction,
            raw.label,
            record.topic,
            record.partition,
            record.offset,
            attributes=raw.attributes or None,
        )

    def _ts_detail(self, ts: float) -> str:
        return f"ts {ts:.0f} outside [{self.limits.min_timestamp:.0f}, now + skew]"

    def _fast_events(
        self,
        lane: ModelLane,
        raws: list[Any],
        records: Sequence[SourceRecord],
        rejected: list[Rejected],
    ) -> list[Event | None]:
        """The checks of the general path, per column; the first failing one names a row.
        The events of the rows, None where a row is rejected."""
        batch = lane.unpack(raws)
        columns = batch.columns
        bad: dict[int, tuple[str, str]] = {}
        limits = self.limits
        ids = batch.ids  # their length is checked by the fast lane's decoder
        stamps: Sequence[Any] = batch.stamps
        try:
            # array("d") takes numbers only (numpy would parse a numeric string, which
            # the general path rejects, and take None for NaN, not for the record's time).
            ts = np.frombuffer(array("d", stamps), dtype=np.float64)
        except TypeError:  # RFC 3339 strings or absent: one by one
            ts = np.empty(len(raws))
            for i, (stamp, record) in enumerate(zip(stamps, records, strict=True)):
                try:
                    ts[i] = parse_timestamp(stamp, record.timestamp)
                except ValueError as exc:
                    bad.setdefault(i, (Reasons.INVALID_TIMESTAMP, str(exc)))
                    ts[i] = 0.0
            stamps = ts.tolist()
        now = self._now() if self._now is not None else time.time()
        with np.errstate(invalid="ignore"):
            out_of_range = ~((ts >= limits.min_timestamp) & (ts <= now + limits.max_future_seconds))
        for i in np.flatnonzero(out_of_range).tolist():
            bad.setdefault(i, (Reasons.INVALID_TIMESTAMP, self._ts_detail(float(ts[i]))))
        attributes: Iterable[Any] = batch.attributes
        if any(attributes):
            for i, given in enumerate(batch.attributes):
                bad_attribute = self._check_attributes(given) if given else None
                if bad_attribute is not None:
                    bad.setdefault(i, (Reasons.WRONG_TYPE, bad_attribute))
            attributes = [given or None for given in batch.attributes]
        else:
            attributes = repeat(None)
        # Category lengths are checked by the fast lane's decoder.
        for name in lane.required:
            numeric = columns.numeric.get(name)
            missing = (
                np.isnan(numeric)
                if numeric is not None
                else np.array([v is None for v in columns.categorical[name]])
            )
            for i in np.flatnonzero(missing).tolist():
                bad.setdefault(i, (Reasons.MISSING_FEATURE, f"feature {name!r} is required"))
        versions: Sequence[Any] = batch.versions
        if not {type(v) for v in set(versions)} <= {str, type(None)}:
            versions = [v if v is None or type(v) is str else str(v) for v in versions]
        partitions = list(map(_partition_of, records))
        offsets = list(map(_offset_of, records))
        # One C-level loop builds the events (a Python loop cost as much as the checks).
        events: list[Event | None] = list(
            map(
                Event,
                repeat(lane.model),
                ids,
                stamps,
                versions,
                batch.features,
                batch.predictions,
                repeat(None),  # label
                map(_topic_of, records),
                partitions,
                offsets,
                repeat(None),  # headers
                attributes,
                repeat(columns),
                range(len(raws)),
            )
        )
        for i in sorted(bad):
            reason, detail = bad[i]
            rejected.append(Rejected(reason, detail, records[i]))
            events[i] = None
        self._attached.append(columns)
        columns.attach(
            events,
            ids,
            ts,
            np.array(partitions, dtype=np.int32),
            np.array(offsets, dtype=np.int64),
            list(versions),
        )
        return events

    def _check_envelope(self, raw: RawEvent, record: SourceRecord) -> tuple[str, str] | None:
        if raw.model not in self.models:
            return Reasons.UNKNOWN_MODEL, f"model {raw.model[:64]!r} is not configured"
        if not raw.id or len(raw.id) > self.limits.max_id_length:
            return Reasons.INVALID_ID, f"id must be 1..{self.limits.max_id_length} characters"
        if record.topic == self.label_topic:
            if raw.label is None:
                return Reasons.MISSING_PART, "a label message needs 'label'"
        elif raw.features is None and raw.prediction is None:
            return Reasons.MISSING_PART, "an event needs 'features' or 'prediction'"
        if raw.prediction is not None:
            score = raw.prediction.get("score")
            if score is not None and not isinstance(score, float):
                return Reasons.WRONG_TYPE, "prediction.score must be a number"
        return None

    def _check_attributes(self, attributes: dict[str, Scalar]) -> str | None:
        """Attributes are categorical: canonical strings, at most max_category_length long."""
        limit = self.limits.max_category_length
        for name, raw in attributes.items():
            value = raw if isinstance(raw, str) else categorical_value(raw)
            attributes[name] = value
            if value is not None and len(value) > limit:
                return f"attribute {name[:64]!r} longer than {limit}"
        return None

    def _timestamp_ok(self, ts: float) -> bool:
        now = self._now() if self._now is not None else time.time()
        return (
            math.isfinite(ts)
            and self.limits.min_timestamp <= ts <= now + self.limits.max_future_seconds
        )


_NON_FINITE_TOKEN = re.compile(rb"[:\[,]\s*-?(?:NaN|Infinity)\s*[,\]}]")


def _mentions_nan(value: bytes) -> bool:
    """NaN or Infinity as a JSON value (not inside a string): valid in JavaScript, not JSON."""
    return _NON_FINITE_TOKEN.search(value) is not None
