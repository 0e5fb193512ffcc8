"""Population Stability Index (PSI) on reference bins, numeric and categorical.

``PSI = sum((cur - ref) * ln(cur / ref))`` over bins, where ``ref``/``cur`` are the bin
proportions. Proportions that are exactly 0 are replaced by ``epsilon`` (default 0.0001,
the same smoothing Evidently uses) so that empty bins give a large but finite contribution;
the proportions are NOT renormalised after smoothing.

Numeric bins (:class:`PSITest`) come from the reference quantiles at ``0, 1/bins, ..., 1`` with
the outer edges replaced by ``-inf``/``+inf`` (open-ended bins) and tied inner quantiles
merged; ``x`` falls in bin ``i`` when ``edges[i] <= x < edges[i + 1]``
(``np.searchsorted(edges, x, side="right") - 1``). Alternatively pass a stored profile:
``edges`` + ``reference_proportions``.

Categorical data (:class:`CategoricalPSITest`) uses ``K`` known categories coded ``0..K-1``
and code ``K`` for categories never seen in the reference (reference share 0 -> epsilon).

PSI has no p-value. Severity follows the usual credit-scoring rule of thumb: below 0.1 no
significant change, 0.1-0.2 moderate, 0.2 and above major. ``threshold`` is ``moderate``:
a moderate shift already counts as drift; ``explanation["severity"]`` tells them apart.

>>> import numpy as np
>>> from detectors import CategoricalPSITest, PSITest
>>> rng = np.random.default_rng(42)
>>> detector = PSITest(rng.normal(0.0, 1.0, 5_000))
>>> detector.test(rng.normal(0.0, 1.0, 2_000)).explanation["severity"]
'none'
>>> result = detector.test(rng.normal(0.5, 1.0, 2_000))
>>> result.drifted, round(result.statistic, 2), result.explanation["severity"]
(True, 0.25, 'major')
>>> categorical = CategoricalPSITest([600, 300, 100])
>>> round(categorical.test_counts([200, 300, 400, 100]).statistic, 2)
1.55
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from detectors._binning import CategoricalDetector, NumericBinnedDetector
from detectors._common import (
    STATE_VERSION,
    FloatArray,
    check_state,
    open_unit_interval,
    positive,
    top_contributors,
)
from detectors.result import DriftResult
from detectors.sample import CurrentSample


def psi_contributions(reference: FloatArray, current: FloatArray, epsilon: float) -> FloatArray:
    """Per-bin PSI terms; each is >= 0, so they rank bins by how much they moved."""
    reference = np.where(reference == 0.0, epsilon, reference)
    current = np.where(current == 0.0, epsilon, current)
    return (current - reference) * np.log(current / reference)


class _PSIThresholds:
    """Validation and reporting shared by the numeric and categorical PSI tests."""

    test_name = "psi"
    moderate: float
    major: float
    epsilon: float

    def _set_thresholds(self, moderate: float, major: float, epsilon: float) -> None:
        self.moderate = positive("moderate", moderate)
        self.major = positive("major", major)
        if self.major < self.moderate:
            raise ValueError("major must be >= moderate")
        self.epsilon = open_unit_interval("epsilon", epsilon)

    def _severity(self, psi: float) -> str:
        if psi >= self.major:
            return "major"
        return "moderate" if psi >= self.moderate else "none"

    def _result(
        self, psi: float, n_reference: int, n_current: int, explanation: dict[str, Any]
    ) -> DriftResult:
        return DriftResult.create(
            test=self.test_name,
            statistic=psi,
            p_value=None,
            alpha=None,
            threshold=self.moderate,
            effect_exceeded=psi >= self.moderate,
            n_reference=n_reference,
            n_current=n_current,
            explanation={"severity": self._severity(psi), **explanation},
        )

    def _threshold_state(self) -> dict[str, Any]:
        return {"moderate": self.moderate, "major": self.major, "epsilon": self.epsilon}


class PSITest(NumericBinnedDetector, _PSIThresholds):
    """Population Stability Index of a numeric feature on reference quantile bins.

    Parameters
    ----------
    reference
        Finite 1-D reference sample (omit when giving ``reference_proportions``).
    bins
        Number of quantile bins (>= 2) when edges are derived from ``reference``.
    edges
        Explicit bin edges (strictly increasing; the outer two are treated as -inf/+inf).
    reference_proportions
        Reference share of each bin, from a stored profile (requires ``edges``).
    reference_size
        Observations behind ``reference_proportions`` (reported as ``n_reference``).
    moderate, major
        PSI levels of moderate and major shifts; ``moderate`` is the drift threshold.
    epsilon
        Replacement for zero proportions, in (0, 1).
    """

    state_type = "psi"
    input_kind = "numeric"

    def __init__(
        self,
        reference: ArrayLike | None = None,
        *,
        bins: int = 10,
        edges: ArrayLike | None = None,
        reference_proportions: ArrayLike | None = None,
        reference_size: int | None = None,
        moderate: float = 0.1,
        major: float = 0.2,
        epsilon: float = 1e-4,
    ) -> None:
        self._set_thresholds(moderate, major, epsilon)
        super().__init__(reference, bins, edges, reference_proportions, reference_size)

    def test(self, current: ArrayLike | CurrentSample) -> DriftResult:
        """Test a current window (1-D numeric; non-finite values are dropped)."""
        current_share, n_current, sample = self._current_proportions(current)
        contributions = psi_contributions(self._reference_proportions, current_share, self.epsilon)
        explanation = self._explanation(sample)
        explanation["bins"] = top_contributors(
            contributions, self._reference_proportions, current_share, self._bin_labels
        )
        return self._result(float(contributions.sum()), self._n_reference, n_current, explanation)

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "bins": self.bins,
            **self._threshold_state(),
            **self._bin_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PSITest:
        check_state(state, cls.state_type)
        detector = cls(
            bins=state["bins"],
            moderate=state["moderate"],
            major=state["major"],
            epsilon=state["epsilon"],
            **cls._bin_kwargs(state),
        )
        detector._restore_summary(state)
        return detector

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        reference = cls._normal_reference()
        yield {"reference": reference}
        yield {"reference": reference, "bins": 20, "moderate": 0.05, "major": 0.3}
        yield {"reference": reference, "edges": [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]}
        yield {
            "edges": stats.norm.ppf(np.linspace(0.0, 1.0, 11)),
            "reference_proportions": np.full(10, 0.1),
            "reference_size": 10_000,
            "epsilon": 1e-3,
        }

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._invalid_binned_params()
        good = np.linspace(-1.0, 1.0, 50)
        yield {"reference": good, "moderate": 0.0}
        yield {"reference": good, "moderate": 0.3, "major": 0.2}
        yield {"reference": good, "epsilon": 0.0}


class CategoricalPSITest(CategoricalDetector, _PSIThresholds):
    """Population Stability Index of a categorical feature.

    Parameters
    ----------
    reference_counts
        Reference count of each of the K known categories.
    moderate, major
        PSI levels of moderate and major shifts; ``moderate`` is the drift threshold.
    epsilon
        Replacement for zero proportions (including the unseen bucket), in (0, 1).
    """

    state_type = "psi_categorical"
    input_kind = "categorical"

    def __init__(
        self,
        reference_counts: ArrayLike,
        *,
        moderate: float = 0.1,
        major: float = 0.2,
        epsilon: float = 1e-4,
    ) -> None:
        self._set_thresholds(moderate, major, epsilon)
        super().__init__(reference_counts)

    def test(self, current_codes: ArrayLike) -> DriftResult:
        """Test integer codes in ``[0, K]`` (``K`` = unseen category)."""
        return self.test_counts(self._counts_from_codes(current_codes))

    def test_counts(self, current_counts: ArrayLike) -> DriftResult:
        """Test current counts of length ``K + 1`` (last entry = unseen categories)."""
        counts = self._checked_current_counts(current_counts)
        n_current = counts.sum()
        current_share = counts / n_current
        contributions = psi_contributions(self._reference_share, current_share, self.epsilon)
        explanation = {
            "current_unseen": int(counts[-1]),
            "categories": top_contributors(
                contributions, self._reference_share, current_share, self._labels
            ),
        }
        return self._result(
            float(contributions.sum()), self._n_reference, int(n_current), explanation
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "reference_counts": self.reference_counts.tolist(),
            **self._threshold_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CategoricalPSITest:
        check_state(state, cls.state_type)
        return cls(
            state["reference_counts"],
            moderate=state["moderate"],
            major=state["major"],
            epsilon=state["epsilon"],
        )

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._categorical_params()
        yield {"reference_counts": [4000, 3000, 2000, 1000], "moderate": 0.2, "major": 0.25}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._invalid_categorical_params()
        yield {"reference_counts": [1, 2], "moderate": -0.1}
        yield {"reference_counts": [1, 2], "moderate": 0.2, "major": 0.1}
        yield {"reference_counts": [1, 2], "epsilon": 1.0}
