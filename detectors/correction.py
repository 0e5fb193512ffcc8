"""Multiple-testing corrections for the p-values of the features of one window.

Both functions are pure: they take raw p-values (any order) and return adjusted p-values in
the same order. ``benjamini_hochberg`` controls the false discovery rate and equals
``scipy.stats.false_discovery_control(p, method="bh")``; ``bonferroni`` controls the
family-wise error rate (``min(1, p * m)``) and is the conservative alternative.

>>> from detectors.correction import benjamini_hochberg, bonferroni
>>> benjamini_hochberg([0.5, 0.6, 0.1, 0.001]).tolist()
[0.6, 0.6, 0.2, 0.004]
>>> bonferroni([0.5, 0.01]).tolist()
[1.0, 0.02]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from detectors._common import FloatArray, float_vector


def _p_value_vector(p_values: ArrayLike) -> FloatArray:
    array = float_vector("p_values", p_values)
    if np.any(np.isnan(array)):
        raise ValueError("p_values must not contain NaN")
    if np.any((array < 0.0) | (array > 1.0)):
        raise ValueError("p_values must lie in [0, 1]")
    return array


def benjamini_hochberg(p_values: ArrayLike) -> FloatArray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1)."""
    p = _p_value_vector(p_values)
    m = p.size
    if m <= 1:
        return p
    order = np.argsort(p)
    scaled = p[order] * (m / np.arange(1, m + 1, dtype=np.float64))
    # Enforce monotonicity from the largest p-value down: a hypothesis is rejected whenever
    # any hypothesis with a larger p-value is.
    adjusted_sorted = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return np.clip(adjusted, 0.0, 1.0)


def bonferroni(p_values: ArrayLike) -> FloatArray:
    """Bonferroni adjusted p-values: ``min(1, p * m)``."""
    p = _p_value_vector(p_values)
    return np.minimum(1.0, p * p.size)
