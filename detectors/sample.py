"""A current window prepared once for every numeric test of a column.

Kolmogorov-Smirnov, PSI, Wasserstein and Jensen-Shannon each need the window's finite
values sorted and a summary of them for the explanation. Passing a :class:`CurrentSample`
instead of the raw values to each detector's ``test`` does that work once: the results
are identical, the window is not copied, sorted or summarised again.

>>> import numpy as np
>>> from detectors import CurrentSample, KSTest, PSITest
>>> rng = np.random.default_rng(3)
>>> reference, current = rng.normal(0, 1, 2_000), rng.normal(0.3, 1, 1_000)
>>> ks, psi = KSTest(reference), PSITest(reference)
>>> sample = CurrentSample(current)
>>> ks.test(sample) == ks.test(current), psi.test(sample) == psi.test(current)
(True, True)
>>> sample.size, sample.missing
(1000, 0)
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from detectors._common import FloatArray, Summary, current_sample, read_only, sorted_summary


class CurrentSample:
    """The finite values of a current window, sorted, with the number of non-finite values
    dropped (``missing``). Read-only; raises ``ValueError`` like a detector's ``test`` when
    the window is not 1-D or holds no finite value."""

    __slots__ = ("_summary", "missing", "sorted")

    def __init__(self, current: ArrayLike) -> None:
        values, self.missing = current_sample(current)
        values.sort()  # current_sample returned a fresh copy
        self.sorted: FloatArray = read_only(values)
        self._summary: Summary | None = None

    @property
    def size(self) -> int:
        return int(self.sorted.size)

    def summary(self) -> Summary:
        """Mean, std and quantiles (a new dictionary each time; computed once)."""
        if self._summary is None:
            self._summary = sorted_summary(self.sorted)
        return dict(self._summary)


def prepared(current: ArrayLike | CurrentSample) -> CurrentSample:
    return current if isinstance(current, CurrentSample) else CurrentSample(current)
