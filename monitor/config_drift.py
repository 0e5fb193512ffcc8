"""Config sections of data-drift monitoring: references, windows, detectors, alert policy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReferenceConfig(_Strict):
    """Where a model's reference distribution comes from."""

    # A profile built by `driftd baseline`; relative paths are relative to the config file.
    profile: Path | None = None
    # Model versions with a profile of their own: events carrying that version use it.
    versions: dict[str, Path] = Field(default_factory=dict)
    # Without a profile: the first N events after start form the reference.
    warmup_events: int = Field(10_000, ge=100, le=1_000_000)

    @field_validator("profile", mode="after")
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _resolve(value, info) if value is not None else None

    @field_validator("versions", mode="after")
    @classmethod
    def _versions_relative(cls, value: dict[str, Path], info: ValidationInfo) -> dict[str, Path]:
        return {version: _resolve(path, info) for version, path in value.items()}


def _resolve(path: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is None or path.is_absolute():
        return path
    return Path(base) / path


class TumblingWindow(_Strict):
    type: Literal["tumbling"] = "tumbling"
    size: int = Field(5000, ge=50, le=1_000_000)

    @property
    def name(self) -> str:
        return f"tumbling-{self.size}"


class SlidingWindow(_Strict):
    type: Literal["sliding"]
    size: int = Field(5000, ge=50, le=1_000_000)
    hop: int = Field(1000, ge=1)

    @model_validator(mode="after")
    def _hop_fits(self) -> SlidingWindow:
        if self.hop > self.size:
            raise ValueError("hop must not exceed size (use a tumbling window)")
        return self

    @property
    def name(self) -> str:
        return f"sliding-{self.size}-{self.hop}"


class EventTimeWindow(_Strict):
    type: Literal["event_time"]
    seconds: float = Field(3600.0, gt=0)
    allowed_lateness_seconds: float = Field(60.0, ge=0)
    # Windows are evaluated only with at least this many events...
    min_events: int = Field(200, ge=10)
    # ...and keep at most this many (a uniform sample beyond), so memory stays bounded.
    max_events: int = Field(50_000, ge=100, le=1_000_000)

    @property
    def name(self) -> str:
        return f"event-time-{self.seconds:g}s"


WindowConfig = Annotated[
    TumblingWindow | SlidingWindow | EventTimeWindow, Field(discriminator="type")
]


class KSSettings(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)
    min_statistic: float = Field(0.1, ge=0, le=1)


class PSISettings(_Strict):
    moderate: float = Field(0.1, gt=0)
    major: float = Field(0.2, gt=0)
    epsilon: float = Field(1e-4, gt=0, lt=0.01)

    @model_validator(mode="after")
    def _ordered(self) -> PSISettings:
        if self.major < self.moderate:
            raise ValueError("major must be >= moderate")
        return self


class ChiSquareSettings(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)
    min_effect: float = Field(0.1, ge=0, le=1)


class DistanceSettings(_Strict):
    threshold: float = Field(0.1, gt=0)


NumericTest = Literal["ks", "psi", "wasserstein", "jensenshannon"]
CategoricalTest = Literal["chi2", "psi", "jensenshannon"]


class DetectorsConfig(_Strict):
    """Which tests run on which columns, with their thresholds."""

    numeric: list[NumericTest] = ["ks", "psi"]
    categorical: list[CategoricalTest] = ["chi2", "psi"]
    # Tests on the prediction score (label-free prediction drift); [] turns it off.
    score: list[NumericTest] = ["ks", "psi"]
    ks: KSSettings = KSSettings()
    psi: PSISettings = PSISettings()
    chi2: ChiSquareSettings = ChiSquareSettings()
    wasserstein: DistanceSettings = DistanceSettings()
    jensenshannon: DistanceSettings = DistanceSettings()


class DriftPolicyConfig(_Strict):
    """When a drifted window becomes an alert, and when the alert resolves."""

    # Correction of p-values for testing many features in one window.
    correction: Literal["bh", "bonferroni", "none"] = "bh"
    # An alert fires after this many consecutive drifted windows...
    consecutive_windows: int = Field(2, ge=1, le=100)
    # ...and resolves after this many consecutive clean ones.
    resolve_after: int = Field(3, ge=1, le=100)
    # A dataset-level alert fires when this share of features has drifted.
    dataset_drift_share: float = Field(0.5, gt=0, le=1)


class StreamDetectorConfig(_Strict):
    """A concept-drift detector from ``detectors`` (river underneath) with its arguments."""

    type: Literal["adwin", "page_hinkley", "kswin", "ddm"] = "adwin"
    params: dict[str, float | int | str] = Field(default_factory=dict)
    # A detection raises an alert only when the signal's mean moved at least this much
    # (error rate, mean absolute error or mean score): on long streams the detectors also
    # notice changes too small to matter.
    min_change: float = Field(0.05, ge=0)

    @model_validator(mode="after")
    def _constructible(self) -> StreamDetectorConfig:
        from detectors import STREAM_DETECTORS  # noqa: PLC0415 - keeps config import light

        try:
            STREAM_DETECTORS[self.type](**self.params)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.type} detector: {exc}") from None
        return self


class ConceptConfig(_Strict):
    """Concept drift: detectors on the error stream (needs labels) and the score stream."""

    # On the error signal: 0/1 misclassification (classification) or absolute error
    # (regression), fed in event-time order as labels arrive. null turns it off.
    error: StreamDetectorConfig | None = StreamDetectorConfig()
    # On the prediction score (label-free prediction drift). null turns it off.
    score: StreamDetectorConfig | None = StreamDetectorConfig()
    # A classifier's predicted label when the prediction has a score but no label.
    decision_threshold: float = Field(0.5, gt=0, lt=1)
    # An alert resolves once this much event time passed without a new detection.
    quiet_seconds: float = Field(600.0, gt=0)


class LabelsConfig(_Strict):
    """How long decisions wait for their ground truth, and how labels are ordered."""

    ttl_seconds: float = Field(86_400.0, gt=0)
    max_pending: int = Field(200_000, ge=1)
    # Matched labels are released to the detectors in event-time order once the label
    # stream has moved this far past them.
    reorder_seconds: float = Field(60.0, ge=0)
