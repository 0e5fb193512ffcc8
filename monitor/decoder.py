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
from collections.abc import Sequence
from typing import Any

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
from monitor.fastlane import FastLane, ModelLane


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


class Decoder:
    """Turns a batch of records into validated events and rejections."""

    def __init__(self, config: Config, now: Any = None) -> None:
        self.config = config
        self.limits = config.limits
        self.models: dict[str, ModelConfig] = dict(config.models)
        self.label_topic = config.topics.labels
        self._now = now
        self.fast_lane = FastLane(self.models)

    def decode(self, records: Sequence[SourceRecord]) -> tuple[list[Event], list[Rejected]]:
        rejected: list[Rejected] = []
        slots: list[Event | None] = []
        general: list[int] = []
        origins: list[SourceRecord] = []
        fast: dict[str, list[tuple[int, Any, SourceRecord]]] = {}
        limit = self.limits.max_message_bytes
        lane = self.fast_lane
        for record in records:
            value = record.value
            if value and len(value) <= limit and record.topic != self.label_topic:
                raw = lane.decode(value)
                if raw is not None:
                    fast.setdefault(type(raw).__name__, []).append((len(slots), raw, record))
                    slots.append(None)
                    continue
            event = self._decode_one(record, rejected)
            if event is not None:
                general.append(len(slots))
                origins.append(record)
                slots.append(event)
        if general:
            events = [slots[i] for i in general]
            checked = self._check_features(events, origins, rejected)  # type: ignore[arg-type]
            kept = {id(e) for e in checked}
            for i in general:
                if id(slots[i]) not in kept:
                    slots[i] = None
        for items in fast.values():
            self._fast_events(lane.lane(items[0][1]), items, rejected, slots)
        return [e for e in slots if e is not None], rejected

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
        items: list[tuple[int, Any, SourceRecord]],
        rejected: list[Rejected],
        slots: list[Event | None],
    ) -> None:
        """The checks of the general path, per column; the first failing one names a row.
        Each accepted event goes into its record's place in ``slots``."""
        positions, raws, records = zip(*items, strict=True)
        batch = lane.unpack(raws)
        columns = batch.columns
        bad: dict[int, tuple[str, str]] = {}
        limits = self.limits
        id_limit = limits.max_id_length
        ids = batch.ids
        if "" in ids or max(map(len, ids)) > id_limit:
            for i, event_id in enumerate(ids):
                if not event_id or len(event_id) > id_limit:
                    bad[i] = (Reasons.INVALID_ID, f"id must be 1..{id_limit} characters")
        stamps = batch.stamps
        try:
            if None in stamps:  # numpy would take None for NaN, not for the record's time
                raise TypeError
            ts = np.array(stamps, dtype=np.float64)
        except (TypeError, ValueError):  # RFC 3339 strings or absent: one by one
            ts = np.empty(len(raws))
            for i, (stamp, record) in enumerate(zip(stamps, records, strict=True)):
                try:
                    ts[i] = parse_timestamp(stamp, record.timestamp)
                except ValueError as exc:
                    bad.setdefault(i, (Reasons.INVALID_TIMESTAMP, str(exc)))
                    ts[i] = 0.0
        now = self._now() if self._now is not None else time.time()
        with np.errstate(invalid="ignore"):
            out_of_range = ~((ts >= limits.min_timestamp) & (ts <= now + limits.max_future_seconds))
        for i in np.flatnonzero(out_of_range).tolist():
            bad.setdefault(i, (Reasons.INVALID_TIMESTAMP, self._ts_detail(float(ts[i]))))
        attributes = batch.attributes
        if any(attributes):
            for i, given in enumerate(attributes):
                bad_attribute = self._check_attributes(given) if given else None
                if bad_attribute is not None:
                    bad.setdefault(i, (Reasons.WRONG_TYPE, bad_attribute))
        required = set(lane.required)
        category_limit = limits.max_category_length
        for name in self.models[lane.model].features:
            numeric = columns.numeric.get(name)
            if name in required:
                missing = (
                    np.isnan(numeric)
                    if numeric is not None
                    else np.array([v is None for v in columns.categorical[name]])
                )
                for i in np.flatnonzero(missing).tolist():
                    bad.setdefault(i, (Reasons.MISSING_FEATURE, f"feature {name!r} is required"))
            if numeric is None:
                values = columns.categorical[name]
                if max(map(len, filter(None, values)), default=0) > category_limit:
                    detail = f"feature {name!r} longer than {category_limit}"
                    for i, v in enumerate(values):
                        if v is not None and len(v) > category_limit:
                            bad.setdefault(i, (Reasons.WRONG_TYPE, detail))
        versions: Sequence[Any] = batch.versions
        if not {type(v) for v in set(versions)} <= {str, type(None)}:
            versions = [v if v is None or type(v) is str else str(v) for v in versions]
        model = lane.model
        rows = zip(
            positions,
            ids,
            ts.tolist(),
            versions,
            batch.features,
            batch.predictions,
            records,
            attributes,
            strict=True,
        )
        for i, (
            position,
            event_id,
            stamp,
            version,
            features,
            prediction,
            record,
            given,
        ) in enumerate(rows):
            if bad:
                problem = bad.get(i)
                if problem is not None:
                    rejected.append(Rejected(problem[0], problem[1], record))
                    continue
            slots[position] = Event(
                model,
                event_id,
                stamp,
                version,
                features,
                prediction,
                None,
                record.topic,
                record.partition,
                record.offset,
                None,
                given or None,
                columns,
                i,
            )

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

    def _check_features(
        self, events: list[Event], origins: list[SourceRecord], rejected: list[Rejected]
    ) -> list[Event]:
        """Per model and feature, check the column at once; only bad rows are looked at singly."""
        bad: dict[int, tuple[str, str]] = {}
        by_model: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            if event.features is not None:
                by_model.setdefault(event.model, []).append(index)
        for model, indices in by_model.items():
            spec = self.models[model].features
            feature_maps = [events[i].features for i in indices]
            for name, feature in spec.items():
                column = [f.get(name) for f in feature_maps]  # type: ignore[union-attr]
                kinds = {type(v) for v in column}
                if feature.required and type(None) in kinds:
                    for i, v in zip(indices, column, strict=True):
                        if v is None:
                            bad.setdefault(
                                i, (Reasons.MISSING_FEATURE, f"feature {name!r} is required")
                            )
                if feature.type == "numeric":
                    if kinds - {float, type(None)}:
                        for i, v in zip(indices, column, strict=True):
                            if v is not None and type(v) is not float:
                                bad.setdefault(
                                    i, (Reasons.WRONG_TYPE, f"feature {name!r} must be a number")
                                )
                elif kinds - {str, type(None)}:
                    for i, v in zip(indices, column, strict=True):
                        if not isinstance(v, str) and v is not None:
                            events[i].features[name] = categorical_value(v)  # type: ignore[index]
                if str in kinds:
                    limit = self.limits.max_category_length
                    for i, v in zip(indices, column, strict=True):
                        if isinstance(v, str) and len(v) > limit:
                            bad.setdefault(
                                i, (Reasons.WRONG_TYPE, f"feature {name!r} longer than {limit}")
                            )
        if not bad:
            return events
        kept = []
        for index, event in enumerate(events):
            if index in bad:
                reason, detail = bad[index]
                rejected.append(Rejected(reason, detail, origins[index]))
            else:
                kept.append(event)
        return kept


_NON_FINITE_TOKEN = re.compile(rb"[:\[,]\s*-?(?:NaN|Infinity)\s*[,\]}]")


def _mentions_nan(value: bytes) -> bool:
    """NaN or Infinity as a JSON value (not inside a string): valid in JavaScript, not JSON."""
    return _NON_FINITE_TOKEN.search(value) is not None
