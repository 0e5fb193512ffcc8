"""Normalised first Wasserstein (earth mover's) distance against a reference sample.

The statistic is ``W1(reference, current) / std(reference)``: dividing by the reference's
population standard deviation (``ddof=0``) makes it unit-free, so "0.1" means "the mass moved
by a tenth of a standard deviation on average" whatever the feature's scale. A constant
reference (std exactly 0) is scaled by 1.0 instead, i.e. the raw distance is reported.

W1 is the area between the two empirical CDFs, summed over the gaps between consecutive
values of the merged reference (sorted once in the constructor) and sorted current window,
like ``scipy.stats.wasserstein_distance``; merging the two sorted runs is linear in practice.
There is no p-value; the default threshold 0.1 matches Evidently's default for this metric.

Missing data: the reference must be finite; non-finite current values (NaN, ±inf) are dropped
and counted as ``explanation["current_missing"]``.

>>> import numpy as np
>>> from detectors import WassersteinTest
>>> rng = np.random.default_rng(42)
>>> detector = WassersteinTest(rng.normal(10.0, 2.0, 2_000))
>>> detector.test(rng.normal(10.0, 2.0, 1_000)).drifted
False
>>> result = detector.test(rng.normal(11.0, 2.0, 1_000))
>>> result.drifted, round(result.statistic, 2)
(True, 0.55)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from detectors._common import (
    STATE_VERSION,
    check_state,
    finite_statistic,
    merge_sorted,
    positive,
    read_only,
    reference_sample,
    sorted_summary,
)
from detectors.result import DriftResult
from detectors.sample import CurrentSample, prepared


class WassersteinTest:
    """First Wasserstein distance, in units of the reference standard deviation.

    Parameters
    ----------
    reference
        Finite 1-D reference sample.
    threshold
        Normalised distance (> 0) from which a window counts as drifted.
    """

    test_name = "wasserstein"
    state_type = "wasserstein"
    input_kind = "numeric"

    def __init__(self, reference: ArrayLike, *, threshold: float = 0.1) -> None:
        self.reference = reference_sample(reference)
        self.threshold = positive("threshold", threshold)
        self._sorted_reference = read_only(np.sort(self.reference))
        # Computed on the sorted copy so that a detector rebuilt from state (which stores the
        # sorted reference) reproduces results bit for bit.
        with np.errstate(over="ignore", invalid="ignore"):
            spread = float(np.std(self._sorted_reference))
        if not np.isfinite(spread):
            raise ValueError("reference standard deviation overflows float64; rescale the feature")
        self._scale = spread if spread > 0.0 else 1.0
        self._reference_summary = sorted_summary(self._sorted_reference)

    def test(self, current: ArrayLike | CurrentSample) -> DriftResult:
        """Test a current window (1-D numeric; non-finite values are dropped)."""
        sample = prepared(current)
        values = current_sorted = sample.sorted
        reference = self._sorted_reference
        pooled, from_current = merge_sorted(reference, current_sorted)
        # Empirical CDFs at each pooled value, from running counts of where the values came
        # from. Inside a run of tied values the counts are partial, but those positions are
        # multiplied by a zero gap below, so only complete counts (as in scipy) matter.
        current_seen = np.cumsum(from_current)[:-1]
        reference_seen = np.arange(1, pooled.size) - current_seen
        cdf_gap = np.abs(reference_seen / reference.size - current_seen / values.size)
        # Sentinel-sized values (1e300) may overflow; report the largest float, not inf.
        with np.errstate(over="ignore", invalid="ignore"):
            distance = finite_statistic(float(np.dot(cdf_gap, np.diff(pooled))))
            statistic = finite_statistic(distance / self._scale)
        return DriftResult.create(
            test=self.test_name,
            statistic=statistic,
            p_value=None,
            alpha=None,
            threshold=self.threshold,
            effect_exceeded=statistic >= self.threshold,
            n_reference=reference.size,
            n_current=values.size,
            explanation={
                "distance": distance,
                "reference_scale": self._scale,
                "current_missing": sample.missing,
                "reference": dict(self._reference_summary),
                "current": sample.summary(),
            },
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "threshold": self.threshold,
            "reference": self._sorted_reference.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> WassersteinTest:
        check_state(state, cls.state_type)
        return cls(state["reference"], threshold=state["threshold"])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        reference = np.random.default_rng(7).normal(0.0, 1.0, 10_000)
        yield {"reference": reference}
        yield {"reference": reference, "threshold": 0.25}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        good = np.linspace(-1.0, 1.0, 50)
        yield {"reference": []}
        yield {"reference": [1.0, np.nan]}
        yield {"reference": [1.0, -np.inf]}
        yield {"reference": [[1.0, 2.0]]}
        yield {"reference": good, "threshold": 0.0}
        yield {"reference": good, "threshold": -1.0}
        yield {"reference": good, "threshold": np.inf}
        yield {"reference": [-1e300, 1e300]}
