"""Chi-square test of homogeneity for a categorical feature.

The reference counts and the current counts form a 2 x (K + 1) contingency table (K known
categories plus the unseen bucket, code K). Columns that are empty in both rows are dropped
(they carry no information and would make expected frequencies zero). The statistic and
p-value equal ``scipy.stats.chi2_contingency(table)`` with its default Yates continuity
correction, which scipy applies only when dof == 1 (two non-empty columns); the computation is
done here in numpy plus ``scipy.special.chdtrc``, the function behind ``scipy.stats.chi2.sf``
(called directly: the distribution object's argument handling costs more than the tail).

``statistic`` is the (possibly Yates-corrected) chi-square statistic. Because it grows with
the sample size, the effect size is Cramér's V, ``sqrt(chi2 / (N * (min(rows, cols) - 1)))``
computed on the UNCORRECTED chi-square (so it does not depend on the correction) and reported
as ``explanation["cramers_v"]``; ``effect_exceeded`` is ``V >= min_effect``. The default
``min_effect`` of 0.1 is Cohen's "small" effect for V. If only one column is non-empty the
test is degenerate: statistic 0, p-value 1, not drifted.

>>> from detectors import ChiSquareTest
>>> detector = ChiSquareTest([500, 300, 200])
>>> detector.test_counts([260, 140, 100, 0]).drifted
False
>>> result = detector.test([0, 1, 2, 2, 2, 2, 3, 3, 3, 3] * 30)
>>> result.drifted, round(result.explanation["cramers_v"], 2), result.p_value < 1e-6
(True, 0.66, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from detectors._binning import CategoricalDetector
from detectors._common import (
    STATE_VERSION,
    check_state,
    closed_range,
    open_unit_interval,
    top_contributors,
)
from detectors.result import DriftResult


class ChiSquareTest(CategoricalDetector):
    """Chi-square homogeneity test of current category counts against reference counts.

    Parameters
    ----------
    reference_counts
        Reference count of each of the K known categories.
    alpha
        Significance level for the standalone verdict, in (0, 1).
    min_effect
        Smallest Cramér's V that counts as drift, in [0, 1].
    """

    test_name = "chi2"
    state_type = "chi2"
    input_kind = "categorical"

    def __init__(
        self, reference_counts: ArrayLike, *, alpha: float = 0.05, min_effect: float = 0.1
    ) -> None:
        super().__init__(reference_counts)
        self.alpha = open_unit_interval("alpha", alpha)
        self.min_effect = closed_range("min_effect", min_effect, 0.0, 1.0)

    def test(self, current_codes: ArrayLike) -> DriftResult:
        """Test integer codes in ``[0, K]`` (``K`` = unseen category)."""
        return self.test_counts(self._counts_from_codes(current_codes))

    def test_counts(self, current_counts: ArrayLike) -> DriftResult:
        """Test current counts of length ``K + 1`` (last entry = unseen categories)."""
        counts = self._checked_current_counts(current_counts)
        table = np.vstack([self._reference_counts, counts])
        non_empty = table.sum(axis=0) > 0
        observed = table[:, non_empty]
        total = observed.sum()
        contributions = np.zeros(table.shape[1])
        dof = observed.shape[1] - 1  # (rows - 1) * (cols - 1) with rows == 2

        if dof == 0:
            statistic, p_value, cramers_v = 0.0, 1.0, 0.0
        else:
            # Same arithmetic as scipy.stats.contingency.expected_freq.
            expected = (
                observed.sum(axis=1, keepdims=True) * observed.sum(axis=0, keepdims=True) / total
            )
            cells = (observed - expected) ** 2 / expected
            contributions[non_empty] = cells.sum(axis=0)
            uncorrected = float(cells.sum())
            if dof == 1:
                # Yates: move each observed count towards its expectation by up to 0.5.
                gap = expected - observed
                corrected = observed + np.minimum(0.5, np.abs(gap)) * np.sign(gap)
                statistic = float((((corrected - expected) ** 2) / expected).sum())
            else:
                statistic = uncorrected
            p_value = float(special.chdtrc(dof, statistic))
            # min(rows, cols) - 1 == 1 here, since rows == 2 and cols >= 2.
            cramers_v = float(np.sqrt(uncorrected / total))

        current_share = counts / counts.sum()
        return DriftResult.create(
            test=self.test_name,
            statistic=statistic,
            p_value=p_value,
            alpha=self.alpha,
            threshold=self.min_effect,
            effect_exceeded=cramers_v >= self.min_effect,
            n_reference=self._n_reference,
            n_current=int(counts.sum()),
            explanation={
                "cramers_v": cramers_v,
                "dof": dof,
                "yates_corrected": dof == 1,
                "current_unseen": int(counts[-1]),
                "categories": top_contributors(
                    contributions, self._reference_share, current_share, self._labels
                ),
            },
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "reference_counts": self.reference_counts.tolist(),
            "alpha": self.alpha,
            "min_effect": self.min_effect,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ChiSquareTest:
        check_state(state, cls.state_type)
        return cls(state["reference_counts"], alpha=state["alpha"], min_effect=state["min_effect"])

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._categorical_params()
        yield {"reference_counts": [4000, 3000, 2000, 1000], "alpha": 0.01, "min_effect": 0.2}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield from cls._invalid_categorical_params()
        yield {"reference_counts": [1, 2], "alpha": 0.0}
        yield {"reference_counts": [1, 2], "alpha": 1.5}
        yield {"reference_counts": [1, 2], "min_effect": -0.1}
        yield {"reference_counts": [1, 2], "min_effect": 2.0}
