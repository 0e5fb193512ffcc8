"""KSWIN (Kolmogorov-Smirnov windowing) change detection, wrapping :class:`river.drift.KSWIN`.

KSWIN keeps the last ``window_size`` values; once the window is full it compares, after every
value, the last ``stat_size`` values with ``stat_size`` values drawn at random (seeded) from the
older part, by a two-sample Kolmogorov-Smirnov test. It fires when the p-value is at most
``alpha`` AND the KS statistic exceeds 0.1 (a floor hard-coded in river). It compares whole
distributions, so it also sees changes of spread or shape, not only of the mean.

Caveats, measured on driftd's test signals:

- it runs a test on every value (scipy's exact KS for 30 + 30 values), about 0.7 ms per value,
  several hundred times slower than ADWIN;
- with the default ``alpha`` on a stationary continuous signal (N(0, 1)) it fired once per
  860 values: the per-value tests are not corrected for multiplicity. ``alpha=1e-4`` fired
  once in 16 800 values and still caught a shift of the mean by one standard deviation within
  35 values;
- on a 0/1 error signal at low error rates it is nearly blind: most 30-value windows are all
  zeros, and it never detected an error rate jumping from 0.05 to 0.25. Use it on continuous
  signals (prediction scores, absolute errors).

``seed`` must be an integer (river also accepts ``None``): river reseeds after every
detection, and a restored detector can only continue exactly if the seed is reproducible.
``stat_size`` must be at most half of ``window_size``: river draws ``stat_size`` values from
the older ``window_size - stat_size`` without replacement and fails otherwise.

Change point: the recent window holds the last ``stat_size`` values, so the change began no
later than its first value, ``detected_at - stat_size + 1``, the estimate used here. With
``alpha=1e-4`` on N(0, 1) scores shifting to N(1, 1) at index 800 (6 streams) it fired 16..33
values after the shift and the estimate was within -13..+4 values of it.

>>> import numpy as np
>>> from detectors import KSWINDetector
>>> rng = np.random.default_rng(7)
>>> scores = np.concatenate([rng.normal(0.0, 1.0, 300), rng.normal(2.0, 1.0, 100)])
>>> detector = KSWINDetector(alpha=1e-4)
>>> [change] = detector.update_many(scores)
>>> change.detected_at, change.change_index
(313, 284)
"""

from __future__ import annotations

import collections
import random
from collections.abc import Iterator
from typing import Any

from river.drift import KSWIN

from detectors._common import integer_at_least, open_unit_interval
from detectors._streaming import StreamingDetector


class KSWINDetector(StreamingDetector):
    """Kolmogorov-Smirnov windowing on a numeric signal (see module docs).

    Parameters
    ----------
    alpha
        Significance level of each KS test, in (0, 1).
    window_size
        Length of the sliding window (>= 2).
    stat_size
        Length of the recent window compared with the older values (>= 1, at most
        ``window_size // 2``).
    seed
        Seed of the random draw of older values (an integer).
    history
        Recent values kept to compute the means of a change point (>= 1).
    """

    state_type = "kswin"
    param_names = ("alpha", "window_size", "stat_size", "seed")
    _river_class = KSWIN
    _pickled_classes = (collections.deque, random.Random)

    def __init__(
        self,
        *,
        alpha: float = 0.005,
        window_size: int = 100,
        stat_size: int = 30,
        seed: int = 0,
        history: int = 100_000,
    ) -> None:
        self.alpha = open_unit_interval("alpha", alpha)
        self.window_size = integer_at_least("window_size", window_size, 2)
        self.stat_size = integer_at_least("stat_size", stat_size, 1)
        if 2 * self.stat_size > self.window_size:
            raise ValueError(
                f"stat_size must be at most window_size // 2, got {stat_size!r} "
                f"with window_size {window_size!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.seed = seed
        super().__init__(history=history)

    def _estimate_change(self, detected_at: int) -> int:
        # The first value of the recent window that failed the test.
        return detected_at - self.stat_size + 1

    @property
    def estimation(self) -> float | None:
        """Mean of the values in KSWIN's sliding window."""
        window = self._river.window
        return sum(window) / len(window) if window else None

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"alpha": 1e-4, "window_size": 200, "stat_size": 50, "seed": 42, "history": 1_000}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield {"alpha": 0.0}
        yield {"alpha": 1.0}
        yield {"window_size": 1}
        yield {"stat_size": 0}
        yield {"window_size": 50, "stat_size": 30}
        yield {"seed": None}
        yield {"seed": 1.5}
        yield {"history": -5}
