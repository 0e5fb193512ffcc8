"""Concept drift of one model: streaming detectors on the error and the score streams.

The error stream (0/1 misclassification or absolute error) comes from the label join in
event-time order; the score stream from every decision. A detection fires a
``concept_drift`` alert carrying the estimated change point (event time, partition and
offset of the first decision after it), the mean before and after, and the detector's
parameters. While firing, further detections only extend the incident; it resolves once
``quiet_seconds`` of event time pass without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import detectors as dt
from monitor import __version__
from monitor.arrays import pack, unpack
from monitor.config import ModelConfig
from monitor.config_drift import StreamDetectorConfig
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord, encode_json

ERROR = "error"
SCORE = "score"
# Values each detector keeps for its before/after means: the change-point estimates need a
# few thousand, and every checkpoint carries them.
HISTORY = 20_000


@dataclass(slots=True)
class Position:
    ts: float
    partition: int
    offset: int


class Signal:
    """One detector and where each value it saw came from (a bounded ring)."""

    def __init__(self, name: str, spec: StreamDetectorConfig) -> None:
        self.name = name
        self.min_change = spec.min_change
        params: dict[str, Any] = {"history": HISTORY, **spec.params}
        self.detector: Any = dt.STREAM_DETECTORS[spec.type](**params)
        self.size = int(getattr(self.detector, "history", 100_000))
        self.ts = np.zeros(self.size, np.float64)
        self.partition = np.zeros(self.size, np.int32)
        self.offset = np.zeros(self.size, np.int64)
        self.firing = False
        self.last_detection = float("-inf")

    def feed(
        self, values: np.ndarray, ts: np.ndarray, partition: np.ndarray, offset: np.ndarray
    ) -> list[tuple[Any, Position | None, Position]]:
        start = self.detector.n_seen
        slots = (start + np.arange(len(values))) % self.size
        self.ts[slots], self.partition[slots], self.offset[slots] = ts, partition, offset
        found = []
        for change in self.detector.update_many(values):
            detected = self.position(change.detected_at)
            assert detected is not None  # the newest values are always in the ring
            found.append((change, self.position(change.change_index), detected))
        return found

    def large_enough(self, change: Any) -> bool:
        before, after = change.mean_before, change.mean_after
        if before is None or after is None:
            return True
        return abs(after - before) >= self.min_change

    def position(self, index: int) -> Position | None:
        if index < self.detector.n_seen - self.size or index < 0:
            return None  # older than the ring remembers
        slot = index % self.size
        return Position(float(self.ts[slot]), int(self.partition[slot]), int(self.offset[slot]))

    def snapshot(self) -> dict[str, Any]:
        return {
            "detector": self.detector.to_state(),
            "ring": [pack(self.ts), pack(self.partition), pack(self.offset)],
            "firing": self.firing,
            "last_detection": self.last_detection,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.detector = dt.stream_from_state(state["detector"])
        self.ts, self.partition, self.offset = (unpack(a) for a in state["ring"])
        self.firing = state["firing"]
        self.last_detection = state["last_detection"]


class ConceptMonitor:
    def __init__(
        self, model: str, config: ModelConfig, alerts_topic: str, metrics: Metrics
    ) -> None:
        self.model = model
        self.config = config.concept
        self.alerts_topic = alerts_topic
        self.metrics = metrics
        self.signals: dict[str, Signal] = {}
        if self.config.error is not None:
            self.signals[ERROR] = Signal(ERROR, self.config.error)
        if self.config.score is not None:
            self.signals[SCORE] = Signal(SCORE, self.config.score)

    def add(
        self,
        name: str,
        values: np.ndarray,
        ts: np.ndarray,
        partition: np.ndarray,
        offset: np.ndarray,
    ) -> list[OutputRecord]:
        signal = self.signals.get(name)
        if signal is None or len(values) == 0:
            return []
        keep = np.isfinite(values)
        if not keep.all():
            values, ts, partition, offset = values[keep], ts[keep], partition[keep], offset[keep]
        outputs = []
        for change, begun, detected in signal.feed(values, ts, partition, offset):
            self.metrics.concept_detections.labels(self.model, name).inc()
            if not signal.large_enough(change):
                continue
            signal.last_detection = detected.ts
            if not signal.firing:
                signal.firing = True
                outputs.append(self._alert(signal, "firing", change, begun, detected))
        newest = float(ts.max()) if len(ts) else float("-inf")
        if signal.firing and newest - signal.last_detection >= self.config.quiet_seconds:
            signal.firing = False
            outputs.append(self._alert(signal, "resolved", None, None, None))
        estimate = signal.detector.estimation
        if estimate is not None:
            self.metrics.concept_estimate.labels(self.model, name).set(estimate)
        self.metrics.concept_firing.labels(self.model, name).set(1 if signal.firing else 0)
        return outputs

    def _alert(
        self,
        signal: Signal,
        status: str,
        change: Any,
        begun: Position | None,
        detected: Position | None,
    ) -> OutputRecord:
        spec = self.config.error if signal.name == ERROR else self.config.score
        assert spec is not None
        body: dict[str, Any] = {
            "dedup_key": f"driftd/concept_drift/{self.model}/{signal.name}/{spec.type}",
            "status": status,
            "kind": "concept_drift",
            "severity": "critical" if signal.name == ERROR else "warning",
            "model": self.model,
            "signal": signal.name,
            "feature": None,
            "test": spec.type,
            "detector": {"type": spec.type, "params": signal.detector.params},
            "driftd_version": __version__,
        }
        if change is not None:
            body.update(
                statistic=change.mean_after,
                mean_before=change.mean_before,
                mean_after=change.mean_after,
                change_point=_where(begun, change.change_index),
                detected_at=_where(detected, change.detected_at),
                values_seen=change.detected_at + 1,
            )
        else:
            body.update(
                quiet_seconds=self.config.quiet_seconds, last_detection_time=signal.last_detection
            )
        self.metrics.alerts.labels(self.model, "concept_drift", status, body["severity"]).inc()
        firing = self.metrics.alerts_firing.labels(self.model, "concept_drift")
        firing.inc() if status == "firing" else firing.dec()
        key = body["dedup_key"].encode()
        return OutputRecord(self.alerts_topic, encode_json(body), key)

    @property
    def firing(self) -> int:
        return sum(1 for signal in self.signals.values() if signal.firing)

    def snapshot(self) -> dict[str, Any]:
        return {name: signal.snapshot() for name, signal in self.signals.items()}

    def restore(self, state: dict[str, Any]) -> None:
        for name, signal_state in state.items():
            if name in self.signals:
                self.signals[name].restore(signal_state)
        self.metrics.alerts_firing.labels(self.model, "concept_drift").inc(self.firing)


def _where(position: Position | None, index: int) -> dict[str, Any]:
    if position is None:
        return {"index": index, "time": None, "partition": None, "offset": None}
    return {
        "index": index,
        "time": position.ts,
        "partition": position.partition,
        "offset": position.offset,
    }
