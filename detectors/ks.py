"""Two-sample Kolmogorov-Smirnov test (two-sided) against a fixed reference sample.

The statistic is the largest gap between the empirical CDFs of the reference and the current
window, evaluated at every pooled value exactly like ``scipy.stats.ks_2samp`` (the same counts,
divided and subtracted in the same order and laid out reference values first), so ties and
discrete data give the same statistic and ``statistic_location`` as scipy. The reference is
sorted once in the constructor; a test sorts the window and merges it with the reference
(O(m log m + n) in numpy) and reads both CDFs off the merged order.

p-values
--------
``method="asymp"`` (the driftd default) uses the asymptotic distribution
``scipy.stats.kstwo.sf(D, round(n*m / (n + m)))``, the same formula as
``ks_2samp(method="asymp")``. It is accurate for window sizes in the hundreds and above, which
is what driftd monitors. The two branches of scipy's tail that window tests meet (the exact
sum for drifted windows, milliseconds each in scipy; Pelz-Good for quiet ones) are evaluated
vectorised in ``detectors/_kolmogorov.py``, equal to scipy within about 1e-13 relative; the
rest is scipy's. Tails already computed are remembered, since the statistic takes few
distinct values for fixed sizes. With one value in each sample the effective size rounds to
0, where scipy returns NaN; this detector returns a p-value of 1 instead.

``"exact"`` and ``"auto"`` delegate the p-value to ``scipy.stats.ks_2samp`` with the same
method. The exact computation is O(n*m) (``"auto"`` is exact whenever both samples have at
most 10 000 values), so it only suits small windows; for very large samples scipy may warn
and fall back to ``"asymp"``.

A window is called drifted when the p-value is below ``alpha`` AND the statistic reaches
``min_statistic``: with thousands of values even a negligible difference becomes
significant, so the effect floor (default 0.1, i.e. the CDFs differ by 10 percentage points
somewhere) keeps the test from flagging immaterial changes.

Missing data: the reference must be finite; non-finite current values (NaN, ±inf) are
dropped and counted as ``explanation["current_missing"]``.

>>> import numpy as np
>>> from detectors import KSTest
>>> rng = np.random.default_rng(42)
>>> detector = KSTest(rng.normal(0.0, 1.0, 2_000))
>>> detector.test(rng.normal(0.0, 1.0, 1_000)).drifted
False
>>> result = detector.test(rng.normal(0.5, 1.0, 1_000))
>>> result.drifted, round(result.statistic, 3), result.p_value < 1e-6
(True, 0.223, True)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from detectors._common import (
    STATE_VERSION,
    FloatArray,
    check_state,
    closed_range,
    merge_sorted,
    open_unit_interval,
    read_only,
    reference_sample,
    sorted_summary,
)
from detectors._kolmogorov import kolmogorov_sf
from detectors.result import DriftResult
from detectors.sample import CurrentSample, prepared

METHODS = ("asymp", "exact", "auto")


@functools.lru_cache(maxsize=8192)
def _kstwo_sf(statistic: float, effective_size: float) -> float:
    """The Kolmogorov distribution tail, remembered: with fixed window and reference sizes
    the statistic takes few distinct values (multiples of 1/lcm(n, m)), and the branches left
    to scipy cost up to milliseconds (a matrix power in long double where nD^2 is small)."""
    return kolmogorov_sf(statistic, effective_size)


class KSTest:
    """Two-sided two-sample Kolmogorov-Smirnov drift test.

    Parameters
    ----------
    reference
        Finite 1-D reference sample.
    alpha
        Significance level for the standalone verdict, in (0, 1).
    min_statistic
        Smallest KS statistic that counts as drift, in [0, 1].
    method
        p-value method: ``"asymp"`` (default), ``"exact"`` or ``"auto"`` (see module docs).
    """

    test_name = "ks"
    state_type = "ks"
    input_kind = "numeric"

    def __init__(
        self,
        reference: ArrayLike,
        *,
        alpha: float = 0.05,
        min_statistic: float = 0.1,
        method: str = "asymp",
    ) -> None:
        self.reference = reference_sample(reference)
        self.alpha = open_unit_interval("alpha", alpha)
        self.min_statistic = closed_range("min_statistic", min_statistic, 0.0, 1.0)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.method = method

        self._sorted_reference = read_only(np.sort(self.reference))
        self._reference_summary = sorted_summary(self._sorted_reference)

    def test(self, current: ArrayLike | CurrentSample) -> DriftResult:
        """Test a current window (1-D numeric; non-finite values are dropped)."""
        sample = prepared(current)
        values = current_sorted = sample.sorted
        n, m = self._sorted_reference.size, current_sorted.size
        statistic, location = self._statistic(current_sorted)

        return DriftResult.create(
            test=self.test_name,
            statistic=statistic,
            p_value=self._p_value(statistic, values),
            alpha=self.alpha,
            threshold=self.min_statistic,
            effect_exceeded=statistic >= self.min_statistic,
            n_reference=n,
            n_current=m,
            explanation={
                "statistic_location": location,
                "current_missing": sample.missing,
                "reference": dict(self._reference_summary),
                "current": sample.summary(),
            },
        )

    def _statistic(self, current_sorted: FloatArray) -> tuple[float, float]:
        """The statistic and its location, equal to ``scipy.stats.ks_2samp``'s.

        scipy evaluates ``cdf_reference - cdf_current`` (counts of values <= v divided by the
        sample sizes) at every reference value, then every current value, and reports the
        first extreme in that layout. Here the same differences, with the same arithmetic,
        are computed once per distinct pooled value; scipy's first extreme is then the
        smallest value at that extreme that occurs in the reference, else the smallest one.
        """
        n, m = self._sorted_reference.size, current_sorted.size
        pooled, from_current = merge_sorted(self._sorted_reference, current_sorted)
        # Each value's counts are complete at the last slot of its run of ties.
        is_run_end = np.empty(pooled.size, dtype=bool)
        np.not_equal(pooled[1:], pooled[:-1], out=is_run_end[:-1])
        is_run_end[-1] = True
        run_ends = np.flatnonzero(is_run_end)
        # Counts as floats (exact): numpy divides float arrays faster than integer ones.
        current_at_or_below = np.cumsum(from_current)[run_ends].astype(np.float64)
        reference_at_or_below = (run_ends + 1).astype(np.float64) - current_at_or_below
        differences = reference_at_or_below / n - current_at_or_below / m
        lowest, highest = int(differences.argmin()), int(differences.argmax())
        below = min(max(-float(differences[lowest]), 0.0), 1.0)
        above = float(differences[highest])
        statistic, run = (below, lowest) if below > above else (above, highest)

        # argmin/argmax found the smallest value at the extreme. A run holds reference values
        # when the reference count grows across it; if this one holds none, scipy reports
        # the smallest reference value at the same extreme, when there is one.
        if reference_at_or_below[run] == (reference_at_or_below[run - 1] if run else 0.0):
            later = np.flatnonzero(differences == differences[run])[1:]
            in_reference = later[reference_at_or_below[later] > reference_at_or_below[later - 1]]
            if in_reference.size:
                run = int(in_reference[0])
        return statistic, float(pooled[run_ends[run]])

    def _p_value(self, statistic: float, current: FloatArray) -> float:
        if self.method != "asymp":
            return float(stats.ks_2samp(self._sorted_reference, current, method=self.method).pvalue)
        # Mirrors scipy's ks_2samp(method="asymp"), two-sided branch.
        larger, smaller = sorted([float(self._sorted_reference.size), float(current.size)])[::-1]
        # Python's round() rounds halves to even, like np.round, without numpy's dispatch.
        effective_size = round(larger * smaller / (larger + smaller))
        if effective_size < 1:
            # Only n == m == 1: scipy divides by zero and returns NaN; one value per sample
            # carries no evidence, so report "no evidence of drift" instead.
            return 1.0
        return _kstwo_sf(statistic, float(effective_size))

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds an equivalent detector."""
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            "alpha": self.alpha,
            "min_statistic": self.min_statistic,
            "method": self.method,
            "reference": self._sorted_reference.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> KSTest:
        check_state(state, cls.state_type)
        return cls(
            state["reference"],
            alpha=state["alpha"],
            min_statistic=state["min_statistic"],
            method=state["method"],
        )

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        reference = np.random.default_rng(7).normal(0.0, 1.0, 10_000)
        yield {"reference": reference}
        yield {"reference": reference, "alpha": 0.01, "min_statistic": 0.05}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        good = np.linspace(-1.0, 1.0, 50)
        yield {"reference": []}
        yield {"reference": [0.0, np.nan, 1.0]}
        yield {"reference": [0.0, np.inf]}
        yield {"reference": np.ones((3, 3))}
        yield {"reference": good, "alpha": 0.0}
        yield {"reference": good, "alpha": 1.0}
        yield {"reference": good, "alpha": float("nan")}
        yield {"reference": good, "min_statistic": -0.1}
        yield {"reference": good, "min_statistic": 1.5}
        yield {"reference": good, "method": "bootstrap"}
