"""Private helpers shared by the detectors: argument validation, sample preparation,
summaries and state bookkeeping. Everything here is pure and vectorised."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
Summary = dict[str, float | None]

STATE_VERSION = 1
TOP_CONTRIBUTORS = 5
_LARGEST_FLOAT = float(np.finfo(np.float64).max)
_SUMMARY_QUANTILES = (("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95))
_SUMMARY_LEVELS = [level for _, level in _SUMMARY_QUANTILES]
# Below this magnitude neither the sum nor the sum of squared deviations of any window that
# fits in memory can overflow, so the summary skips numpy's (costly) error-state context.
_NO_OVERFLOW = 1e100


# -- scalar arguments ---------------------------------------------------------------------------


def real_number(name: str, value: Any) -> float:
    """Return ``value`` as a finite float, rejecting bools, non-numbers, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def open_unit_interval(name: str, value: Any) -> float:
    number = real_number(name, value)
    if not 0.0 < number < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number


def closed_range(name: str, value: Any, low: float, high: float) -> float:
    number = real_number(name, value)
    if not low <= number <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
    return number


def positive(name: str, value: Any) -> float:
    number = real_number(name, value)
    if number <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def integer_at_least(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# -- arrays -------------------------------------------------------------------------------------


def read_only(array: FloatArray) -> FloatArray:
    array.setflags(write=False)
    return array


def float_vector(name: str, values: ArrayLike) -> FloatArray:
    """Convert to a fresh 1-D float64 array (a copy, so callers' arrays are never aliased)."""
    try:
        array = np.array(values, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D array of numbers") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def reference_sample(values: ArrayLike) -> FloatArray:
    """Validated read-only copy of a numeric reference: non-empty and entirely finite."""
    array = float_vector("reference", values)
    if array.size == 0:
        raise ValueError("reference must not be empty")
    if not np.all(np.isfinite(array)):
        raise ValueError("reference must not contain NaN or infinite values")
    return read_only(array)


def current_sample(values: ArrayLike) -> tuple[FloatArray, int]:
    """Finite current values and the number of non-finite (missing) values dropped."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"current must be 1-D, got shape {array.shape}")
    is_finite = np.isfinite(array)
    # Either way a copy: the caller may sort it in place, the input is never touched.
    finite = array.copy() if is_finite.all() else array[is_finite]
    if finite.size == 0:
        raise ValueError("current has no finite values to test")
    return finite, int(array.size - finite.size)


def sorted_summary(sorted_values: FloatArray) -> Summary:
    """Mean, population std and a few quantiles of ASCENDING values: enough to explain a
    shift, never raw data.

    Equal bit for bit to ``np.mean``, ``np.std`` and ``np.quantile`` (numpy's default linear
    method): the moments repeat numpy's own reductions without its argument handling, and
    the quantiles are read off the sorted values instead of partitioning them again.
    Extreme values (sentinels such as 1e300) can overflow the mean or std; those entries are
    reported as None rather than as an infinity that JSON cannot carry.
    """
    if max(-float(sorted_values[0]), float(sorted_values[-1])) <= _NO_OVERFLOW:
        mean, std = _moments(sorted_values)
    else:  # sentinel-sized values: overflow to inf (reported as None) without a warning
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = _moments(sorted_values)
    summary: Summary = {
        "mean": mean if math.isfinite(mean) else None,
        "std": std if math.isfinite(std) else None,
    }
    for (label, _), quantile in zip(
        _SUMMARY_QUANTILES, sorted_quantiles(sorted_values, _SUMMARY_LEVELS), strict=True
    ):
        summary[label] = quantile
    return summary


def _moments(values: FloatArray) -> tuple[float, float]:
    """np.mean and np.std (ddof=0), the same reductions in the same order."""
    mean = np.add.reduce(values) / values.size
    deviations = values - mean
    np.square(deviations, out=deviations)
    return float(mean), float(np.sqrt(np.add.reduce(deviations) / values.size))


def sorted_quantiles(sorted_values: FloatArray, levels: Iterable[float]) -> list[float]:
    """``np.quantile(values, levels)`` for ascending finite ``values``, by index arithmetic.

    Mirrors numpy's "linear" method: virtual index ``(n - 1) * q``, neighbours at its floor
    and floor + 1 (both the last value past the end), and numpy's ``_lerp``, which
    interpolates from the upper neighbour when the weight is >= 0.5 so the result is
    monotonic and exact at both ends. A handful of levels: Python floats (IEEE doubles, the
    same operations) cost less than numpy calls on tiny arrays.
    """
    last = sorted_values.size - 1
    quantiles = []
    for level in levels:
        virtual = last * level
        below = math.floor(virtual)
        weight = virtual - below
        lower = float(sorted_values[min(below, last)])
        upper = float(sorted_values[min(below + 1, last)])
        gap = upper - lower
        quantiles.append(upper - gap * (1 - weight) if weight >= 0.5 else lower + gap * weight)
    return quantiles


def merge_sorted(first: FloatArray, second: FloatArray) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Merge two ascending arrays; also flag which slots came from ``second``.

    Tied values from ``first`` come before those from ``second``. A stable argsort of the
    concatenation is a merge of two sorted runs for numpy's timsort, O(total) in practice and
    several times cheaper than locating one array in the other with ``np.searchsorted``.
    """
    pooled = np.concatenate([first, second])
    order = np.argsort(pooled, kind="stable")
    return pooled[order], order >= first.size


def finite_statistic(value: float) -> float:
    """Clamp an overflowed statistic to the largest float so results stay JSON-safe."""
    return float(np.clip(value, -_LARGEST_FLOAT, _LARGEST_FLOAT))


def count_vector(name: str, counts: ArrayLike, length: int | None = None) -> FloatArray:
    """Validated 1-D vector of non-negative integral counts with a positive total."""
    array = float_vector(name, counts)
    if array.size == 0:
        raise ValueError(f"{name} must not be empty")
    if length is not None and array.size != length:
        raise ValueError(f"{name} must have length {length}, got {array.size}")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array != np.round(array)):
        raise ValueError(f"{name} must hold non-negative integer counts")
    if array.sum() <= 0:
        raise ValueError(f"{name} must have a positive total")
    return array


def codes_to_counts(codes: ArrayLike, n_categories: int) -> FloatArray:
    """Counts of integer codes in ``[0, n_categories]``; code ``n_categories`` means unseen."""
    array = np.asarray(codes)
    if array.ndim != 1 or array.size == 0:
        raise ValueError("current codes must be a non-empty 1-D array")
    if not np.issubdtype(array.dtype, np.integer):
        as_float = np.asarray(array, dtype=np.float64)
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError("current codes must be integers")
        array = as_float.astype(np.int64)
    if array.min() < 0 or array.max() > n_categories:
        raise ValueError(f"current codes must be in [0, {n_categories}] ({n_categories} = unseen)")
    return np.bincount(array, minlength=n_categories + 1).astype(np.float64)


# -- explanations -------------------------------------------------------------------------------


def top_contributors(
    contributions: FloatArray,
    reference_share: FloatArray,
    current_share: FloatArray,
    labels: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The (at most five) entries contributing most to the statistic, largest first.

    ``labels[i]`` identifies entry ``i`` (a category code or bin bounds). Entries that
    contribute nothing are left out.
    """
    order = np.argsort(-contributions, kind="stable")[:TOP_CONTRIBUTORS].tolist()
    # Python floats up front: indexing numpy arrays element by element costs more.
    shares = reference_share.tolist(), current_share.tolist(), contributions.tolist()
    return [
        {
            **labels[i],
            "reference_share": shares[0][i],
            "current_share": shares[1][i],
            "contribution": shares[2][i],
        }
        for i in order
        if shares[2][i] > 0
    ]


def category_labels(n_categories: int) -> list[dict[str, Any]]:
    """Labels for K known categories plus the unseen bucket (code K)."""
    labels: list[dict[str, Any]] = [{"category": code} for code in range(n_categories)]
    labels.append({"category": n_categories, "unseen": True})
    return labels


# -- state --------------------------------------------------------------------------------------


def check_state(state: dict[str, Any], state_type: str) -> None:
    if state.get("type") != state_type:
        raise ValueError(f"state is of type {state.get('type')!r}, expected {state_type!r}")
    if state.get("state_version") != STATE_VERSION:
        raise ValueError(f"unsupported state_version {state.get('state_version')!r}")
