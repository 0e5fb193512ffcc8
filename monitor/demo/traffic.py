"""Deterministic synthetic model traffic: features, a model's predictions, labels, drift.

Pure (no Kafka) so tests can use it as well as the demo. Every random column has its own
random stream, seeded from ``(seed, column name)``: the stream of a feature does not
depend on which other features or drifts exist, and the traffic does not depend on how it
is cut into batches, so ``batch(10) + batch(90)`` equals ``batch(100)``.

The model: ``score = sigmoid(bias + sum(weight * standardised feature) + noise)`` over the
numeric features as drifted (a data drift moves the scores too, as it would in
production), ``predicted_label = score >= 0.5``, and the ground truth is the
predicted label flipped with the current error rate (which a :class:`ConceptChange` moves).
Feature and drift specifications live in :mod:`monitor.demo.specs` and are re-exported.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from monitor.config import InputLimits
from monitor.demo.malformed import MalformedMessage, build_malformed
from monitor.demo.specs import (
    DEMO_FEATURES,
    RESERVED_COLUMNS,
    ConceptChange,
    DriftSpec,
    FeatureSpec,
    MeanShift,
    NewCategory,
    SpreadChange,
    active,
    demo_drifts,
    features_config,
)

Column = np.ndarray | list[str]
Batch = dict[str, Column]

# 2025-11-28T03:20:00Z: a fixed default keeps generated traffic identical between runs.
DEFAULT_START_TS = 1_764_300_000.0

__all__ = [
    "DEFAULT_START_TS",
    "DEMO_FEATURES",
    "RESERVED_COLUMNS",
    "Batch",
    "ConceptChange",
    "DriftSpec",
    "FeatureSpec",
    "MalformedMessage",
    "MeanShift",
    "NewCategory",
    "SpreadChange",
    "TrafficGenerator",
    "demo_drifts",
    "features_config",
]


class _Prediction(msgspec.Struct):
    score: float
    label: int


class _FullEvent(msgspec.Struct):
    id: str
    model: str
    version: str
    ts: float
    features: dict[str, float | str]
    prediction: _Prediction


class _FeaturesMessage(msgspec.Struct):
    id: str
    model: str
    ts: float
    features: dict[str, float | str]


class _PredictionMessage(msgspec.Struct):
    id: str
    model: str
    ts: float
    prediction: _Prediction


class _LabelMessage(msgspec.Struct):
    id: str
    model: str
    ts: float
    label: int


_encode = msgspec.json.Encoder().encode


class TrafficGenerator:
    """Generates columns of model traffic and encodes them as native driftd messages.

    ``batch(n)`` returns the next ``n`` events as columns: ``index`` (int64), ``id``
    (``f"{model}-{index}"``), ``ts`` (``start_ts + index / events_per_second``), one column
    per feature (float64, or an object array of strings), ``score`` (float64),
    ``predicted_label`` and ``true_label`` (int8, 0 or 1).
    """

    def __init__(
        self,
        features: Sequence[FeatureSpec],
        seed: int = 0,
        *,
        model: str = "credit-risk",
        version: str = "1",
        drifts: Sequence[DriftSpec] = (),
        start_ts: float = DEFAULT_START_TS,
        events_per_second: float = 1000.0,
        error_rate: float = 0.1,
        bias: float = -1.0,
        score_noise: float = 0.5,
    ) -> None:
        if not features:
            raise ValueError("at least one feature is needed")
        if events_per_second <= 0:
            raise ValueError("events_per_second must be > 0")
        if not 0 <= error_rate <= 1:
            raise ValueError("error_rate must be within [0, 1]")
        self.features = tuple(features)
        self.by_name = {spec.name: spec for spec in self.features}
        if len(self.by_name) != len(self.features):
            raise ValueError("feature names must be unique")
        self.drifts = tuple(drifts)
        for drift in self.drifts:
            self._check_drift(drift)
        self.seed = seed
        self.model = model
        self.version = version
        self.start_ts = start_ts
        self.events_per_second = events_per_second
        self.error_rate = error_rate
        self.bias = bias
        self.score_noise = score_noise
        self.position = 0  # index of the next event
        self._streams: dict[str, np.random.Generator] = {}
        self._malformed_count = 0

    def _check_drift(self, drift: DriftSpec) -> None:
        if isinstance(drift, ConceptChange):
            if not 0 <= drift.error_rate <= 1:
                raise ValueError("error_rate must be within [0, 1]")
            return
        spec = self.by_name.get(drift.feature)
        if spec is None:
            raise ValueError(f"drift on unknown feature {drift.feature!r}")
        if isinstance(drift, NewCategory):
            if spec.is_numeric or drift.category in spec.categories:
                raise ValueError(f"{drift.feature}: a new category needs a categorical feature")
            if not 0 < drift.share < 1:
                raise ValueError("share must be within (0, 1)")
        elif not spec.is_numeric:
            raise ValueError(f"{drift.feature}: mean and spread drifts need a numeric feature")

    def _stream(self, name: str) -> np.random.Generator:
        stream = self._streams.get(name)
        if stream is None:
            key = zlib.crc32(name.encode())
            stream = self._streams[name] = np.random.default_rng([self.seed, key])
        return stream

    # -- generation ---------------------------------------------------------------------
    def time_of(self, index: int | np.ndarray) -> float | np.ndarray:
        return self.start_ts + index / self.events_per_second

    def error_rate_at(self, index: int) -> float:
        rate = self.error_rate
        for drift in self.drifts:
            if isinstance(drift, ConceptChange) and active(drift, np.array([index]))[0]:
                rate = drift.error_rate
        return rate

    def batch(self, n: int) -> Batch:
        if n < 0:
            raise ValueError("n must be >= 0")
        index = np.arange(self.position, self.position + n, dtype=np.int64)
        self.position += n
        columns: Batch = {
            "index": index,
            "id": [f"{self.model}-{i}" for i in index.tolist()],
            "ts": np.asarray(self.time_of(index), dtype=np.float64),
        }
        for spec in self.features:
            columns[spec.name] = self._feature_column(spec, index)
        score = self._score(columns, n)
        predicted = (score >= 0.5).astype(np.int8)
        error_rate = np.full(n, self.error_rate)
        for drift in self.drifts:
            if isinstance(drift, ConceptChange):
                error_rate[active(drift, index)] = drift.error_rate
        flipped = self._stream("model:label-flip").random(n) < error_rate
        columns["score"] = score
        columns["predicted_label"] = predicted
        columns["true_label"] = predicted ^ flipped.astype(np.int8)
        return columns

    def _feature_column(self, spec: FeatureSpec, index: np.ndarray) -> Column:
        n = len(index)
        rng = self._stream(f"feature:{spec.name}")
        if not spec.is_numeric:
            return self._categorical_column(spec, rng.random(n), index)
        p = spec.params
        match spec.distribution:
            case "normal":
                values = rng.normal(p[0], p[1], n)
            case "lognormal":
                values = rng.lognormal(p[0], p[1], n)
            case "uniform":
                values = rng.uniform(p[0], p[1], n)
            case "exponential":
                values = rng.exponential(p[0], n)
            case _:
                values = rng.poisson(p[0], n).astype(np.float64)
        # Spread first, so that a mean shift is in units of the reference spread.
        for drift in self.drifts:
            if isinstance(drift, SpreadChange) and drift.feature == spec.name:
                mask = active(drift, index)
                values[mask] = spec.mean + drift.factor * (values[mask] - spec.mean)
        for drift in self.drifts:
            if isinstance(drift, MeanShift) and drift.feature == spec.name:
                values[active(drift, index)] += drift.k * spec.std
        return values

    def _categorical_column(
        self, spec: FeatureSpec, draws: np.ndarray, index: np.ndarray
    ) -> Column:
        names = list(spec.categories)
        cumulative = np.cumsum(spec.probabilities)
        codes = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(names) - 1)
        for drift in self.drifts:
            if isinstance(drift, NewCategory) and drift.feature == spec.name:
                # Drawn for every row (not only drifted ones) so streams stay batch-independent.
                stream = self._stream(f"new-category:{spec.name}:{drift.category}")
                taken = (stream.random(len(index)) < drift.share) & active(drift, index)
                codes = np.where(taken, len(names), codes)
                names.append(drift.category)
        return np.asarray(names, dtype=object)[codes]

    def _score(self, columns: Batch, n: int) -> np.ndarray:
        logit = np.full(n, self.bias)
        for spec in self.features:
            if spec.is_numeric and spec.weight:
                column = np.asarray(columns[spec.name], dtype=np.float64)
                logit += spec.weight * (column - spec.mean) / spec.std
        logit += self._stream("model:score-noise").normal(0.0, self.score_noise, n)
        return 1.0 / (1.0 + np.exp(-logit))

    # -- encoding -----------------------------------------------------------------------
    def _feature_maps(self, batch: Batch) -> list[dict[str, float | str]]:
        names = [spec.name for spec in self.features]
        columns = [_as_list(batch[name]) for name in names]
        return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]

    def _predictions(self, batch: Batch) -> list[_Prediction]:
        scores = _as_list(batch["score"])
        labels = _as_list(batch["predicted_label"])
        return [_Prediction(s, lab) for s, lab in zip(scores, labels, strict=True)]

    def encode_events(self, batch: Batch) -> list[bytes]:
        """Full events: ``{"id","model","version","ts","features","prediction"}``."""
        m, v = self.model, self.version
        rows = zip(
            batch["id"],
            _as_list(batch["ts"]),
            self._feature_maps(batch),
            self._predictions(batch),
            strict=True,
        )
        return [_encode(_FullEvent(i, m, v, ts, f, p)) for i, ts, f, p in rows]

    def encode_features(self, batch: Batch) -> list[bytes]:
        """Features halves of split events: ``{"id","model","ts","features"}``."""
        m = self.model
        rows = zip(batch["id"], _as_list(batch["ts"]), self._feature_maps(batch), strict=True)
        return [_encode(_FeaturesMessage(i, m, ts, f)) for i, ts, f in rows]

    def encode_predictions(self, batch: Batch) -> list[bytes]:
        """Prediction halves of split events: ``{"id","model","ts","prediction"}``."""
        m = self.model
        rows = zip(batch["id"], _as_list(batch["ts"]), self._predictions(batch), strict=True)
        return [_encode(_PredictionMessage(i, m, ts, p)) for i, ts, p in rows]

    def encode_labels(self, batch: Batch, delay_seconds: float = 0.0) -> list[bytes]:
        """Ground truth: ``{"id","model","ts","label"}``, stamped ``delay_seconds`` late."""
        m = self.model
        times = _as_list(np.asarray(batch["ts"]) + delay_seconds)
        labels = _as_list(batch["true_label"])
        rows = zip(batch["id"], times, labels, strict=True)
        return [_encode(_LabelMessage(i, m, ts, lab)) for i, ts, lab in rows]

    # -- malformed input ----------------------------------------------------------------
    def malformed(
        self, n: int, rng: np.random.Generator, limits: InputLimits | None = None
    ) -> list[MalformedMessage]:
        """``n`` messages the decoder must reject, for a features or predictions topic.

        Kinds are drawn in shuffled rounds, so any ``n`` of at least the number of kinds
        covers every kind; each message carries the reason the decoder gives for it.
        """
        messages = build_malformed(
            n,
            rng,
            model=self.model,
            features=self.features,
            ts=float(self.time_of(self.position)),
            limits=limits or InputLimits(),
            first_serial=self._malformed_count,
        )
        self._malformed_count += n
        return messages


def _as_list(column: Column) -> list[Any]:
    return column.tolist() if isinstance(column, np.ndarray) else list(column)
