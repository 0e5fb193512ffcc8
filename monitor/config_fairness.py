"""Config sections of fairness monitoring and champion-challenger comparison."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

FairnessMetric = Literal["disparate_impact", "equal_opportunity", "equalized_odds"]
# A window of a model without a count window of its own size, and no explicit setting.
DEFAULT_WINDOW = 5000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _canonical_label(value: Any) -> Any:
    """Labels are compared as strings spelled like categorical values: 1 -> "1"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def _all_metrics() -> list[FairnessMetric]:
    return ["disparate_impact", "equal_opportunity", "equalized_odds"]


class FairnessConfig(_Strict):
    """Group fairness of a classifier's decisions over declared protected attributes."""

    # Protected attribute -> where its value is: "attribute" (the event's `attributes`
    # object, never a model input) or "feature" (a declared categorical feature).
    attributes: dict[str, Literal["attribute", "feature"]] = Field(min_length=1, max_length=10)
    # The favourable decision: prediction.label equal to this, or, without a label,
    # prediction.score >= concept.decision_threshold (which means "1").
    positive_label: str = "1"
    # Decisions per window; null: the size of the model's first tumbling window (else 5000).
    window: int | None = Field(None, ge=50, le=1_000_000)
    # Labelled decisions per window for the label-based rates; null: same as window.
    labelled_window: int | None = Field(None, ge=50, le=1_000_000)
    # Groups (per rate) with fewer events are "insufficient_data": reported, never compared.
    min_group_size: int = Field(30, ge=1)
    # Confidence of the Wilson interval on every rate.
    confidence: float = Field(0.95, gt=0.5, lt=1)
    # Distinct groups tracked per attribute; later values are pooled as "__other__".
    max_groups: int = Field(10, ge=2, le=100)
    metrics: list[FairnessMetric] = Field(default_factory=_all_metrics, min_length=1)
    # Disparate impact (lowest / highest positive rate) below this violates (four-fifths rule).
    disparate_impact_min: float = Field(0.8, gt=0, le=1)
    # Equal-opportunity / equalised-odds gap (largest rate difference) above this violates.
    max_gap: float = Field(0.1, gt=0, le=1)
    # A window violates only if, in addition, the intervals of the two groups compared do
    # not overlap: a difference within sampling noise never alerts.
    require_separated_intervals: bool = True
    consecutive_windows: int = Field(2, ge=1, le=100)
    resolve_after: int = Field(3, ge=1, le=100)

    _label = field_validator("positive_label", mode="before")(_canonical_label)

    @field_validator("attributes")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(f"attribute name {name!r}: letters, digits, '_', '.', '-' only")
        return value

    @property
    def label_metrics(self) -> bool:
        return bool({"equal_opportunity", "equalized_odds"} & set(self.metrics))


class ChallengerConfig(_Strict):
    """Another model scoring the same events (same ids), compared with this one."""

    model: str
    # Matched decisions per window (agreement, score difference).
    window: int = Field(1000, ge=50, le=1_000_000)
    # Labelled matched decisions per window (error rates); null: same as window.
    labelled_window: int | None = Field(None, ge=50, le=1_000_000)
    # Informational alert when the challenger's error rate is lower by at least this...
    margin: float = Field(0.02, gt=0, lt=1)
    # ...in this many labelled windows in a row; resolves after resolve_after others.
    consecutive_windows: int = Field(3, ge=1, le=100)
    resolve_after: int = Field(3, ge=1, le=100)
    # Event time a decision waits for the other model's decision on the same id.
    ttl_seconds: float = Field(300.0, gt=0)
    max_pending: int = Field(100_000, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"model": value} if isinstance(value, str) else value


def fairness_window(config: FairnessConfig, windows: list[Any]) -> int:
    if config.window is not None:
        return config.window
    for window in windows:
        if window.type == "tumbling":
            return int(window.size)
    return DEFAULT_WINDOW


def check_fairness(config: FairnessConfig, task: str, features: dict[str, Any]) -> None:
    if task != "classification":
        raise ValueError("fairness: applies to classification models only")
    for name, source in config.attributes.items():
        if source == "feature":
            feature = features.get(name)
            if feature is None or feature.type != "categorical":
                raise ValueError(
                    f"fairness.attributes.{name}: not a declared categorical feature "
                    "(use source 'attribute' for a value outside the features)"
                )


def check_challengers(models: dict[str, Any]) -> None:
    for name, model in models.items():
        challenger = model.challenger
        if challenger is None:
            continue
        other = models.get(challenger.model)
        if other is None:
            raise ValueError(
                f"models.{name}.challenger: model {challenger.model!r} is not configured"
            )
        if challenger.model == name:
            raise ValueError(f"models.{name}.challenger: a model cannot challenge itself")
        if model.task != "classification" or other.task != "classification":
            raise ValueError(f"models.{name}.challenger: both models must be classifiers")
