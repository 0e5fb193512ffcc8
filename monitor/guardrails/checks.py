"""Per-decision checks of the built-in kinds, each a few numpy operations over a column.

``matches`` gives the mask of decisions the rule hits; ``reason`` explains one hit and is
called only for the decisions hit, so the per-decision Python work is proportional to the
hits, not to the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from monitor.categories import OVERFLOW
from monitor.guardrails.batch import Coded, DecisionBatch, is_none


class DecisionCheck(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def action(self) -> str: ...
    def matches(self, batch: DecisionBatch) -> np.ndarray: ...
    def reason(self, batch: DecisionBatch, index: int) -> str: ...


def number(value: float) -> str:
    """Short, exact enough for a reviewer: 20000, 0.55, 1e+07, -inf."""
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class RangeCheck:
    name: str
    action: str
    feature: str
    low: float  # -inf when open
    high: float  # inf when open
    kind: str = "range"

    def matches(self, batch: DecisionBatch) -> np.ndarray:
        values = batch.numeric[self.feature]
        # NaN (missing) compares False both ways: a missing value never violates a range.
        return (values < self.low) | (values > self.high)

    def reason(self, batch: DecisionBatch, index: int) -> str:
        value = float(batch.numeric[self.feature][index])
        bounds = f"[{number(self.low)}, {number(self.high)}]"
        return f"{self.feature}={number(value)} outside {bounds}"


@dataclass(frozen=True, slots=True)
class RequiredCheck:
    name: str
    action: str
    features: tuple[str, ...]
    kind: str = "required"

    def matches(self, batch: DecisionBatch) -> np.ndarray:
        missing = np.zeros(batch.size, dtype=bool)
        for feature in self.features:
            missing |= batch.missing(feature)
        return missing

    def reason(self, batch: DecisionBatch, index: int) -> str:
        absent = [f for f in self.features if batch.missing(f)[index]]
        return f"missing required feature{'s' if len(absent) > 1 else ''}: {', '.join(absent)}"


@dataclass(frozen=True, slots=True)
class CategoriesCheck:
    name: str
    action: str
    feature: str
    allowed: frozenset[str]
    kind: str = "categories"

    def matches(self, batch: DecisionBatch) -> np.ndarray:
        coded = batch.codes.get(self.feature)
        if coded is not None:
            return self._outside_coded(coded, batch.categorical[self.feature])
        values = batch.categorical[self.feature]
        # A set lookup per value, run by map in C: linear in the batch whatever the number
        # of categories (np.isin on objects sorts them with Python comparisons). None is
        # never allowed, so a missing value is excluded below.
        allowed = np.fromiter(map(self.allowed.__contains__, values), bool, len(values))
        return ~allowed & ~is_none(values)

    def _outside_coded(self, coded: Coded, values: np.ndarray) -> np.ndarray:
        """One set lookup per distinct value of the dictionary, then per row by code; the
        few rows past the dictionary's limit are looked up by value."""
        allowed = np.fromiter(map(self.allowed.__contains__, coded.values), bool)
        codes = coded.codes
        outside = np.zeros(codes.size, dtype=bool)
        known = codes >= 0
        outside[known] = ~allowed[codes[known]]
        for i in np.flatnonzero(codes == OVERFLOW).tolist():
            outside[i] = values[i] not in self.allowed
        return outside

    def reason(self, batch: DecisionBatch, index: int) -> str:
        value = batch.categorical[self.feature][index]
        return f"unseen category {self.feature}={value!r}"


@dataclass(frozen=True, slots=True)
class ScoreBandCheck:
    name: str
    action: str
    low: float
    high: float
    outside: bool
    kind: str = "score_band"

    def matches(self, batch: DecisionBatch) -> np.ndarray:
        score = batch.score
        within = (score >= self.low) & (score <= self.high)
        if not self.outside:
            return within
        return ~within & ~np.isnan(score)

    def reason(self, batch: DecisionBatch, index: int) -> str:
        where = "outside" if self.outside else "within"
        score = float(batch.score[index])
        return f"score={number(score)} {where} [{number(self.low)}, {number(self.high)}]"
