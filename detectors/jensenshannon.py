"""Jensen-Shannon distance between binned reference and current distributions.

The statistic is the Jensen-Shannon DISTANCE in base 2 (the square root of the divergence),
so it lies in [0, 1] and equals ``scipy.spatial.distance.jensenshannon(p, q, base=2)``. Unlike
PSI it needs no smoothing: empty bins are handled by the mixture ``(p + q) / 2``.

Numeric data (:class:`JensenShannonTest`) is binned exactly like :class:`detectors.PSITest`:
reference quantile edges with open outer bins, ``edges[i] <= x < edges[i + 1]``, or a stored
``edges`` + ``reference_proportions`` profile. Categorical data
(:class:`CategoricalJensenShannonTest`) uses codes ``0..K-1`` for the K known categories and
``K`` for the unseen bucket (reference share 0).

There is no p-value; the default threshold 0.1 matches Evidently's default. The per-bin
``contribution`` in the explanation is that bin's share of the divergence (in bits), so the
contributions sum to ``statistic ** 2``.

>>> import numpy as np
>>> from detectors import CategoricalJensenShannonTest, JensenShannonTest
>>> rng = np.random.default_rng(42)
>>> detector = JensenShannonTest(rng.normal(0.0, 1.0, 5_000))
>>> detector.test(rng.normal(0.0, 1.0, 2_000)).drifted
False
>>> result = detector.test(rng.normal(1.0, 1.0, 2_000))
>>> result.drifted, round(result.statistic, 2)
(True, 0.4)
>>> categorical = CategoricalJensenShannonTest([600, 300, 100])
>>> round(categorical.test([0, 0, 1, 3]).statistic, 3)
0.424
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from detectors._binning import CategoricalDetector, NumericBinnedDetector
from detectors._common import (
    STATE_VERSION,
    FloatArray,
    check_state,
    closed_range,
    top_contributors,
)
from detectors.result import DriftResult
from detectors.sample import CurrentSample


def divergence_contributions(reference: FloatArray, current: FloatArray) -> FloatArray:
    """Per-bin terms of the Jensen-Shannon divergence in bits (each >= 0)."""
    mixture = (reference + current) / 2.0
    # rel_entr(0, x) == 0, so empty bins need no special care.
    terms = special.rel_entr(reference, mixture) + special.rel_entr(current, mixture)
    return np.asarray(terms / np.log(2.0) / 2.0, dtype=np.float64)


def js_distance(reference: FloatArray, current: FloatArray) -> float:
    """Base-2 distance with scipy's order of operations (sum each side, then add)."""
    mixture = (reference + current) / 2.0
    divergence = special.rel_entr(reference, mixture).sum()
    divergence += special.rel_entr(current, mixture).sum()
    divergence /= np.log(2.0)
    # Rounding can leave -1e-17 for identical inputs; clip so the square root stays real.
    return float(np.sqrt(max(divergence / 2.0, 0.0)))


class _JSThreshold:
    test_name = "jensenshannon"
    threshold: float

    def _result(
        self,
        reference: FloatArray,
        current: FloatArray,
        *,
        n_reference: int,
        n_current: int,
        labels: list[dict[str, Any]],
        explanation: dict[str, Any],
        key: str,
    ) -> DriftResult:
        distance = js_distance(reference, current)
        contributions = divergence_contributions(reference, current)
        explanation[key] = top_contributors(contributions, reference, current, labels)
        return DriftResult.create(
            test=self.test_name,
            statistic=distance,
            p_value=None,
            alpha=None,
            threshold=self.threshold,
            effect_exceeded=distance >= self.threshold,
            n_reference=n_reference,
            n_current=n_current,
            explanation=explanation,
        )


class JensenShannonTest(NumericBinnedDetector, _JSThreshold):
    """Jensen-Shannon distance of a numeric feature on reference quantile bins.

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
    threshold
        Distance from which a window counts as drifted, in (0, 1].
    """

    state_type = "jensenshannon"
    input_kind = "numeric"

    def __init__(
        self,
        reference: ArrayLike | None = None,
        *,
        bins: int = 10,
        edges: ArrayLike | None = None,
        reference_proportions: ArrayLike | None = None,
        reference_size: int | None = None,
        threshold: float = 0.1,
    ) -> None:
        self.threshold = _checked_threshold(threshold)
        super().__init__(reference, bins, edges, reference_proportions, reference_size)
        # scipy normalises its inputs; profiles may carry proportions off by rounding.
        self._reference_share = self._reference_proportions / self._reference_proportions.sum()

    def test(self, current: ArrayLike | CurrentSample) -> DriftResult:
        """Test a current window (1-D numeric; non-finite values are dropped)."""
        current_share, n_current, sample = self._current_proportions(current)
        return self._result(
            self._reference_share,
            current_share,
            n_reference=self._n_reference,
            n_current=n_current,
            labels=self._bin_labels,
            explanation=self._explanation(sample),
            key="bins",
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "bins": self.bins,
            "threshold": self.threshold,
            **self._bin_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> JensenShannonTest:
        check_state(state, cls.state_type)
        detector = cls(bins=state["bins"], threshold=state["threshold"], **cls._bin_kwargs(state))
        detector._restore_summary(state)
        return detector

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        reference = cls._normal_reference()
        yield {"reference": reference}
        yield {"reference": reference, "bins": 5, "threshold": 0.2}
        yield {
            "edges": [-np.inf, -1.0, 0.0, 1.0, np.inf],
            "reference_proportions": [0.158655, 0.341345, 0.341345, 0.158655],
        }

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._invalid_binned_params()
        good = np.linspace(-1.0, 1.0, 50)
        yield {"reference": good, "threshold": 0.0}
        yield {"reference": good, "threshold": 1.5}


class CategoricalJensenShannonTest(CategoricalDetector, _JSThreshold):
    """Jensen-Shannon distance of a categorical feature (K categories + unseen bucket).

    Parameters
    ----------
    reference_counts
        Reference count of each of the K known categories.
    threshold
        Distance from which a window counts as drifted, in (0, 1].
    """

    state_type = "jensenshannon_categorical"
    input_kind = "categorical"

    def __init__(self, reference_counts: ArrayLike, *, threshold: float = 0.1) -> None:
        self.threshold = _checked_threshold(threshold)
        super().__init__(reference_counts)

    def test(self, current_codes: ArrayLike) -> DriftResult:
        """Test integer codes in ``[0, K]`` (``K`` = unseen category)."""
        return self.test_counts(self._counts_from_codes(current_codes))

    def test_counts(self, current_counts: ArrayLike) -> DriftResult:
        """Test current counts of length ``K + 1`` (last entry = unseen categories)."""
        counts = self._checked_current_counts(current_counts)
        n_current = counts.sum()
        return self._result(
            self._reference_share,
            counts / n_current,
            n_reference=self._n_reference,
            n_current=int(n_current),
            labels=self._labels,
            explanation={"current_unseen": int(counts[-1])},
            key="categories",
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "reference_counts": self.reference_counts.tolist(),
            "threshold": self.threshold,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CategoricalJensenShannonTest:
        check_state(state, cls.state_type)
        return cls(state["reference_counts"], threshold=state["threshold"])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._categorical_params()
        yield {"reference_counts": [4000, 3000, 2000, 1000], "threshold": 0.15}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._invalid_categorical_params()
        yield {"reference_counts": [1, 2], "threshold": 0.0}
        yield {"reference_counts": [1, 2], "threshold": 1.01}


def _checked_threshold(threshold: float) -> float:
    value = closed_range("threshold", threshold, 0.0, 1.0)
    if value == 0.0:
        raise ValueError("threshold must be > 0")
    return value
