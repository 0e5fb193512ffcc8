"""Group-fairness statistics: per-group rates with confidence intervals, and disparities.

A *rate* is successes over trials per group: the positive-decision rate (positives over
decisions), the true-positive rate (predicted positive over actual positives) or the
false-positive rate (predicted positive over actual negatives). Each rate gets a Wilson
score interval, which keeps its coverage for small groups and rates near 0 or 1 where the
normal approximation does not. Groups with fewer trials than ``min_group_size`` are
*insufficient*: reported, never compared.

>>> import numpy as np
>>> from detectors.fairness import disparate_impact, group_rates, rate_gap
>>> rates = group_rates([50, 30, 2], [100, 100, 5], min_group_size=30)
>>> rates.rate.round(3).tolist(), rates.sufficient.tolist()
([0.5, 0.3, 0.4], [True, True, False])
>>> di = disparate_impact(rates)
>>> round(di.value, 3), di.lowest, di.highest, di.separated
(0.6, 1, 0, True)
>>> round(rate_gap(rates).value, 3)
0.2
>>> disparate_impact(group_rates([5, 1], [10, 10], min_group_size=30)).value is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from detectors._common import FloatArray, integer_at_least, open_unit_interval

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


def _counts(name: str, values: ArrayLike) -> IntArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if array.size and (
        not np.issubdtype(array.dtype, np.number)
        or np.any(array < 0)
        or np.any(array != np.floor(array))
    ):
        raise ValueError(f"{name} must be non-negative whole numbers")
    return array.astype(np.int64)


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval (no continuity correction) for each ``successes / trials``.

    A group without trials gets the uninformative interval [0, 1].

    >>> low, high = wilson_interval([8], [10])
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.4902, 0.9433)
    """
    k = _counts("successes", successes)
    n = _counts("trials", trials)
    if k.shape != n.shape:
        raise ValueError("successes and trials must have the same length")
    if np.any(k > n):
        raise ValueError("successes must not exceed trials")
    confidence = open_unit_interval("confidence", confidence)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    low = np.zeros(k.shape)
    high = np.ones(k.shape)
    has = n > 0
    nn = n[has].astype(np.float64)
    p = k[has] / nn
    denominator = 1.0 + z * z / nn
    centre = (p + z * z / (2.0 * nn)) / denominator
    half = z / denominator * np.sqrt(p * (1.0 - p) / nn + z * z / (4.0 * nn * nn))
    low[has] = np.clip(centre - half, 0.0, 1.0)
    high[has] = np.clip(centre + half, 0.0, 1.0)
    return low, high


@dataclass(frozen=True, slots=True)
class GroupRates:
    """One rate per group, with its interval and whether the group is large enough."""

    successes: IntArray
    trials: IntArray
    rate: FloatArray  # NaN for a group without trials
    low: FloatArray
    high: FloatArray
    sufficient: BoolArray


def group_rates(
    successes: ArrayLike,
    trials: ArrayLike,
    *,
    min_group_size: int = 30,
    confidence: float = 0.95,
) -> GroupRates:
    """Rates, Wilson intervals and the ``trials >= min_group_size`` mask, per group."""
    min_group_size = integer_at_least("min_group_size", min_group_size, 1)
    k = _counts("successes", successes)
    n = _counts("trials", trials)
    low, high = wilson_interval(k, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    return GroupRates(k, n, rate, low, high, n >= min_group_size)


@dataclass(frozen=True, slots=True)
class Disparity:
    """The spread between the lowest- and highest-rate comparable groups.

    ``value`` is ``None`` when fewer than two groups are comparable (large enough and
    eligible). ``separated`` says whether the two groups' intervals do not overlap, i.e.
    whether the difference is more than sampling noise at the intervals' confidence.
    """

    value: float | None
    lowest: int | None  # group index
    highest: int | None
    separated: bool


def _extremes(rates: GroupRates, eligible: ArrayLike | None) -> tuple[int, int] | None:
    mask = rates.sufficient.copy()
    if eligible is not None:
        allowed = np.asarray(eligible, dtype=bool)
        if allowed.shape != mask.shape:
            raise ValueError("eligible must have one entry per group")
        mask &= allowed
    index = np.flatnonzero(mask)
    if index.size < 2:
        return None
    values = rates.rate[index]
    return int(index[np.argmin(values)]), int(index[np.argmax(values)])


def disparate_impact(rates: GroupRates, eligible: ArrayLike | None = None) -> Disparity:
    """Lowest rate over highest rate among comparable groups (1.0 when all rates are 0)."""
    ends = _extremes(rates, eligible)
    if ends is None:
        return Disparity(None, None, None, False)
    lo, hi = ends
    top = float(rates.rate[hi])
    value = 1.0 if top == 0.0 else float(rates.rate[lo]) / top
    return Disparity(value, lo, hi, bool(rates.high[lo] < rates.low[hi]))


def rate_gap(rates: GroupRates, eligible: ArrayLike | None = None) -> Disparity:
    """Highest rate minus lowest rate among comparable groups."""
    ends = _extremes(rates, eligible)
    if ends is None:
        return Disparity(None, None, None, False)
    lo, hi = ends
    value = float(rates.rate[hi] - rates.rate[lo])
    return Disparity(value, lo, hi, bool(rates.high[lo] < rates.low[hi]))


def equalized_odds_gap(
    tpr: GroupRates, fpr: GroupRates, eligible: ArrayLike | None = None
) -> tuple[Disparity, str | None]:
    """The larger of the true-positive-rate and false-positive-rate gaps, and which it is.

    Only groups comparable on both rates count, so the two gaps describe the same groups.

    >>> tpr = group_rates([40, 30], [50, 50], min_group_size=30)
    >>> fpr = group_rates([5, 20], [50, 50], min_group_size=30)
    >>> gap, which = equalized_odds_gap(tpr, fpr)
    >>> round(gap.value, 3), which
    (0.3, 'false_positive_rate')
    """
    both = tpr.sufficient & fpr.sufficient
    if eligible is not None:
        both &= np.asarray(eligible, dtype=bool)
    tp_gap = rate_gap(tpr, both)
    fp_gap = rate_gap(fpr, both)
    if tp_gap.value is None or fp_gap.value is None:
        return Disparity(None, None, None, False), None
    if fp_gap.value > tp_gap.value:
        return fp_gap, "false_positive_rate"
    return tp_gap, "true_positive_rate"
