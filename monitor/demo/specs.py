"""What synthetic traffic is made of: feature distributions and drifts, and the demo's.

:mod:`monitor.demo.traffic` generates traffic from these and re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Distribution = Literal["normal", "lognormal", "uniform", "exponential", "poisson", "categorical"]

# Columns of a generated batch besides the features; a feature may not take one of these names.
RESERVED_COLUMNS = frozenset({"index", "id", "ts", "score", "predicted_label", "true_label"})


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature: a numeric distribution or categories with probabilities.

    ``weight`` is the coefficient of the feature (standardised by its own mean and
    standard deviation) in the model's score; categorical features do not enter it.
    Build one with the class methods, e.g. ``FeatureSpec.normal("age", 40, 12)``.
    """

    name: str
    distribution: Distribution
    params: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    weight: float = 0.0
    required: bool = False

    def __post_init__(self) -> None:
        if self.name in RESERVED_COLUMNS:
            raise ValueError(f"feature name {self.name!r} is reserved for a batch column")
        if self.distribution == "categorical":
            if not self.categories or len(self.categories) != len(self.probabilities):
                raise ValueError(f"{self.name}: one probability per category is needed")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"{self.name}: categories must be unique")
            if min(self.probabilities) < 0 or not math.isclose(sum(self.probabilities), 1.0):
                raise ValueError(f"{self.name}: probabilities must be >= 0 and sum to 1")
        elif not self.std > 0:
            raise ValueError(f"{self.name}: the distribution must have a positive spread")

    @classmethod
    def normal(
        cls, name: str, mu: float, sigma: float, *, weight: float = 0.0, required: bool = False
    ) -> FeatureSpec:
        return cls(name, "normal", (mu, sigma), weight=weight, required=required)

    @classmethod
    def lognormal(
        cls, name: str, mu: float, sigma: float, *, weight: float = 0.0, required: bool = False
    ) -> FeatureSpec:
        """``exp(normal(mu, sigma))``: ``mu`` and ``sigma`` are those of the logarithm."""
        return cls(name, "lognormal", (mu, sigma), weight=weight, required=required)

    @classmethod
    def uniform(
        cls, name: str, low: float, high: float, *, weight: float = 0.0, required: bool = False
    ) -> FeatureSpec:
        return cls(name, "uniform", (low, high), weight=weight, required=required)

    @classmethod
    def exponential(
        cls, name: str, scale: float, *, weight: float = 0.0, required: bool = False
    ) -> FeatureSpec:
        return cls(name, "exponential", (scale,), weight=weight, required=required)

    @classmethod
    def poisson(
        cls, name: str, lam: float, *, weight: float = 0.0, required: bool = False
    ) -> FeatureSpec:
        """Counts with mean ``lam`` (sent as JSON numbers such as ``3.0``)."""
        return cls(name, "poisson", (lam,), weight=weight, required=required)

    @classmethod
    def categorical(
        cls, name: str, probabilities: Mapping[str, float], required: bool = False
    ) -> FeatureSpec:
        """Categories with relative frequencies (normalised to sum to 1)."""
        total = float(sum(probabilities.values()))
        if total <= 0:
            raise ValueError(f"{name}: probabilities must have a positive sum")
        shares = tuple(float(p) / total for p in probabilities.values())
        return cls(name, "categorical", (), tuple(probabilities), shares, required=required)

    @property
    def is_numeric(self) -> bool:
        return self.distribution != "categorical"

    @property
    def mean(self) -> float:
        """The distribution's expected value (``nan`` for a categorical feature)."""
        p = self.params
        match self.distribution:
            case "normal":
                return p[0]
            case "lognormal":
                return math.exp(p[0] + p[1] ** 2 / 2)
            case "uniform":
                return (p[0] + p[1]) / 2
            case "exponential" | "poisson":
                return p[0]
        return math.nan

    @property
    def std(self) -> float:
        """The distribution's standard deviation (``nan`` for a categorical feature)."""
        p = self.params
        match self.distribution:
            case "normal":
                return p[1]
            case "lognormal":
                return math.sqrt(math.expm1(p[1] ** 2) * math.exp(2 * p[0] + p[1] ** 2))
            case "uniform":
                return (p[1] - p[0]) / math.sqrt(12)
            case "exponential":
                return p[0]
            case "poisson":
                return math.sqrt(p[0])
        return math.nan


@dataclass(frozen=True, slots=True)
class MeanShift:
    """From event ``start`` on, add ``k`` (reference) standard deviations to a numeric feature."""

    feature: str
    k: float
    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class SpreadChange:
    """From event ``start`` on, scale a numeric feature's spread around its mean by ``factor``."""

    feature: str
    factor: float
    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class NewCategory:
    """From event ``start`` on, a categorical feature takes ``category`` with ``share``;
    the other categories keep their relative frequencies in the remaining ``1 - share``."""

    feature: str
    category: str
    share: float
    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class ConceptChange:
    """From event ``start`` on, the model is wrong with probability ``error_rate``."""

    error_rate: float
    start: int = 0
    end: int | None = None


DriftSpec = MeanShift | SpreadChange | NewCategory | ConceptChange


def active(drift: DriftSpec, index: np.ndarray) -> np.ndarray:
    """Which of the events ``index`` a drift applies to: from ``start`` up to ``end``."""
    mask = index >= drift.start
    if drift.end is not None:
        mask &= index < drift.end
    return mask


def features_config(features: Sequence[FeatureSpec]) -> dict[str, dict[str, object]]:
    """The ``models.<name>.features`` section of a config declaring ``features``."""
    section: dict[str, dict[str, object]] = {}
    for spec in features:
        entry: dict[str, object] = {"type": "numeric" if spec.is_numeric else "categorical"}
        if spec.required:
            entry["required"] = True
        if not spec.is_numeric:
            entry["categories"] = list(spec.categories)
        section[spec.name] = entry
    return section


DEMO_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec.lognormal("income", 10.8, 0.5, weight=-0.9, required=True),
    FeatureSpec.uniform("age", 18.0, 75.0, weight=-0.3, required=True),
    FeatureSpec.normal("debt_to_income", 0.35, 0.12, weight=1.2, required=True),
    FeatureSpec.normal("credit_utilization", 0.45, 0.2, weight=0.6),
    FeatureSpec.exponential("months_since_delinquency", 24.0, weight=-0.5),
    FeatureSpec.poisson("open_credit_lines", 6.0, weight=0.3),
    FeatureSpec.categorical(
        "region",
        {"north": 0.3, "south": 0.25, "east": 0.2, "west": 0.15, "central": 0.1},
        required=True,
    ),
    FeatureSpec.categorical("channel", {"web": 0.5, "mobile": 0.35, "branch": 0.15}),
    FeatureSpec.categorical(
        "product",
        {
            "card-basic": 0.2,
            "card-gold": 0.1,
            "card-platinum": 0.04,
            "loan-personal": 0.12,
            "loan-auto": 0.1,
            "loan-student": 0.06,
            "mortgage-fixed": 0.08,
            "mortgage-variable": 0.05,
            "overdraft": 0.09,
            "bnpl": 0.07,
            "heloc": 0.03,
            "business-line": 0.06,
        },
    ),
)


def demo_drifts(start: int, end: int | None = None) -> tuple[DriftSpec, ...]:
    """The demo's drift from event ``start`` (up to ``end``): debt-to-income shifts up by
    1.5 standard deviations, a new ``partner`` channel takes 20 % of traffic, and the error
    rate of the model rises from 10 % to 35 %."""
    return (
        MeanShift("debt_to_income", 1.5, start, end),
        NewCategory("channel", "partner", 0.2, start, end),
        ConceptChange(0.35, start, end),
    )
