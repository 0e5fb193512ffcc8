"""Malformed messages of every kind the decoder must reject, each with its expected reason.

Used through :meth:`monitor.demo.traffic.TrafficGenerator.malformed`. The reasons are
those of :class:`monitor.events.Reasons`; ``tests/test_demo_traffic.py`` runs every kind
through the real decoder to keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from monitor.config import InputLimits
from monitor.events import Reasons

if TYPE_CHECKING:
    from monitor.demo.specs import FeatureSpec

_encode = msgspec.json.Encoder().encode
# A string that cannot occur in a real message: it is swapped for raw bytes afterwards,
# for the inputs msgspec would refuse to encode (NaN, 1e400, invalid UTF-8).
_PLACEHOLDER = "\x00driftd-placeholder\x00"
_QUOTED_PLACEHOLDER = _encode(_PLACEHOLDER)


@dataclass(frozen=True, slots=True)
class MalformedMessage:
    kind: str  # what is wrong, e.g. "nan_literal"
    reason: str  # the dead-letter reason the decoder gives (a ``Reasons`` value)
    payload: bytes


@dataclass(slots=True)
class _Context:
    """What one builder may use: a valid message to spoil, and the random stream."""

    id: str
    model: str
    ts: float
    features: dict[str, Any]
    limits: InputLimits
    rng: np.random.Generator
    numeric: str | None  # a numeric feature's name
    categorical: str | None  # a categorical feature's name
    required: str | None  # a required feature's name

    def message(self, **changes: Any) -> dict[str, Any]:
        body = {"id": self.id, "model": self.model, "ts": self.ts, "features": dict(self.features)}
        body.update(changes)
        return body

    def with_feature(self, name: str | None, value: Any) -> dict[str, Any]:
        assert name is not None
        return self.message(features={**self.features, name: value})


Builder = Callable[[_Context], bytes]


def _with_raw(body: dict[str, Any], raw: bytes) -> bytes:
    """Encode ``body`` and put ``raw`` where it holds the placeholder."""
    return _encode(body).replace(_QUOTED_PLACEHOLDER, raw, 1)


def _truncated(c: _Context) -> bytes:
    whole = _encode(c.message())
    return whole[: int(c.rng.integers(1, len(whole) - 1))]


def _invalid_utf8(c: _Context) -> bytes:
    return _with_raw(c.message(id=_PLACEHOLDER), b'"' + c.id.encode() + b'\xc3\x28"')


def _nan_literal(c: _Context) -> bytes:
    literal = [b"NaN", b"Infinity", b"-Infinity"][int(c.rng.integers(3))]
    return _with_raw(c.with_feature(c.numeric, _PLACEHOLDER), literal)


def _huge_number(c: _Context) -> bytes:
    literal = b"1e400" if c.rng.random() < 0.5 else b"-1e400"
    return _with_raw(c.with_feature(c.numeric, _PLACEHOLDER), literal)


def _oversized(c: _Context) -> bytes:
    padding = "x" * (c.limits.max_message_bytes + 1)
    return _encode(c.message(padding=padding))


def _missing_required(c: _Context) -> bytes:
    features = {k: v for k, v in c.features.items() if k != c.required}
    return _encode(c.message(features=features))


def _without(key: str) -> Builder:
    def build(c: _Context) -> bytes:
        body = c.message()
        del body[key]
        return _encode(body)

    return build


def _changed(**changes: Any) -> Builder:
    return lambda c: _encode(c.message(**changes))


def _id_not_string(c: _Context) -> bytes:
    return _encode(c.message(id=int(c.rng.integers(1, 1 << 40))))


def _unknown_model(c: _Context) -> bytes:
    return _encode(c.message(model=f"{c.model}-unknown"))


def _long_id(c: _Context) -> bytes:
    return _encode(c.message(id="i" * (c.limits.max_id_length + 1)))


def _score_not_number(c: _Context) -> bytes:
    prediction = {"score": "0.9", "label": 1}
    return _encode({"id": c.id, "model": c.model, "ts": c.ts, "prediction": prediction})


def _numeric_feature_as(value: Any) -> Builder:
    return lambda c: _encode(c.with_feature(c.numeric, value))


def _category_too_long(c: _Context) -> bytes:
    return _encode(c.with_feature(c.categorical, "c" * (c.limits.max_category_length + 1)))


# (kind, reason, builder, needs): ``needs`` names a feature the kind cannot do without.
_KINDS: list[tuple[str, str, Builder, str | None]] = [
    ("empty", Reasons.EMPTY, lambda c: b"", None),
    ("oversized", Reasons.OVERSIZED, _oversized, None),
    ("invalid_json", Reasons.INVALID_JSON, _truncated, None),
    ("invalid_utf8", Reasons.INVALID_UTF8, _invalid_utf8, None),
    ("id_not_string", Reasons.SCHEMA, _id_not_string, None),
    ("features_not_object", Reasons.SCHEMA, _changed(features=[1.0, 2.0]), None),
    ("missing_id", Reasons.SCHEMA, _without("id"), None),
    ("missing_model", Reasons.SCHEMA, _without("model"), None),
    ("unknown_model", Reasons.UNKNOWN_MODEL, _unknown_model, None),
    ("empty_id", Reasons.INVALID_ID, _changed(id=""), None),
    ("long_id", Reasons.INVALID_ID, _long_id, None),
    ("unparsable_timestamp", Reasons.INVALID_TIMESTAMP, _changed(ts="yesterday"), None),
    ("timestamp_before_minimum", Reasons.INVALID_TIMESTAMP, _changed(ts=1.0), None),
    ("no_features_or_prediction", Reasons.MISSING_PART, _without("features"), None),
    ("score_not_number", Reasons.WRONG_TYPE, _score_not_number, None),
    ("nan_literal", Reasons.NON_FINITE, _nan_literal, "numeric"),
    ("number_out_of_range", Reasons.NON_FINITE, _huge_number, "numeric"),
    ("numeric_feature_as_string", Reasons.WRONG_TYPE, _numeric_feature_as("52000"), "numeric"),
    ("numeric_feature_as_bool", Reasons.WRONG_TYPE, _numeric_feature_as(True), "numeric"),
    ("category_too_long", Reasons.WRONG_TYPE, _category_too_long, "categorical"),
    ("missing_required_feature", Reasons.MISSING_FEATURE, _missing_required, "required"),
]


def malformed_kinds(features: Sequence[FeatureSpec]) -> list[tuple[str, str]]:
    """``(kind, reason)`` of every kind that ``features`` allows (e.g. one needs a
    required feature to leave out)."""
    context = _context_fields(features)
    return [(kind, reason) for kind, reason, _, needs in _KINDS if not needs or context[needs]]


def build_malformed(
    n: int,
    rng: np.random.Generator,
    *,
    model: str,
    features: Sequence[FeatureSpec],
    ts: float,
    limits: InputLimits,
    first_serial: int = 0,
) -> list[MalformedMessage]:
    fields = _context_fields(features)
    kinds = [entry for entry in _KINDS if not entry[3] or fields[entry[3]]]
    # A valid message to spoil: every feature at its mean or first category.
    valid = {s.name: round(s.mean, 6) if s.is_numeric else s.categories[0] for s in features}
    messages: list[MalformedMessage] = []
    order: list[int] = []
    for serial in range(first_serial, first_serial + n):
        if not order:
            order = rng.permutation(len(kinds)).tolist()
        kind, reason, build, _ = kinds[order.pop()]
        context = _Context(f"{model}-malformed-{serial}", model, ts, valid, limits, rng, **fields)
        messages.append(MalformedMessage(kind, reason, build(context)))
    return messages


def _context_fields(features: Sequence[FeatureSpec]) -> dict[str, str | None]:
    def first(condition: Callable[[FeatureSpec], bool]) -> str | None:
        return next((spec.name for spec in features if condition(spec)), None)

    return {
        "numeric": first(lambda s: s.is_numeric),
        "categorical": first(lambda s: not s.is_numeric),
        "required": first(lambda s: s.required),
    }
