"""Page-Hinkley change detection, wrapping :class:`river.drift.PageHinkley`.

Page-Hinkley accumulates the deviations of each value from the running mean (minus a
tolerance ``delta``, with a forgetting factor ``alpha``) and fires when the cumulative sum has
risen more than ``threshold`` above its minimum ("up"), or fallen that much below its maximum
("down"). The threshold is in the units of the signal times the number of values, so it has to
suit the signal: with the default 50 a jump of the error rate from 0.05 to 0.25 is detected
after 100 to 370 values. Arguments and defaults mirror river's.

Change point: the most likely split of the values since the last detection, in the direction
that fired (see :mod:`detectors._change_estimate`). Page-Hinkley's own candidate, the point
where its cumulative sum last stood at its extreme, is a poor estimate: the sum is faded by
``alpha`` and levels off, so its minimum is usually an old fluctuation (median error 726
values, worst 8 125). On driftd's test stream (error rate 0.05 -> 0.25 at index 10 000)
detections came 106..367 values after the jump and the split was within -23..+95 values of it
over 120 streams (median 6).

>>> import numpy as np
>>> from detectors import PageHinkleyDetector
>>> rng = np.random.default_rng(7)
>>> errors = (rng.random(6_000) < np.repeat([0.05, 0.25], 3_000)).astype(float)
>>> detector = PageHinkleyDetector()
>>> [change] = detector.update_many(errors)
>>> change.detected_at, change.change_index
(3233, 2995)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from river.drift import PageHinkley
from river.stats import Mean

from detectors._common import integer_at_least, positive, real_number
from detectors._streaming import StreamingDetector

MODES = ("up", "down", "both")


class PageHinkleyDetector(StreamingDetector):
    """Page-Hinkley test on a numeric signal (see module docs).

    Parameters
    ----------
    min_instances
        Values to see before a detection is possible (>= 1).
    delta
        Tolerated deviation per value (>= 0).
    threshold
        Detection threshold (lambda), > 0.
    alpha
        Forgetting factor of the cumulative sums, in (0, 1].
    mode
        Detect increases (``"up"``), decreases (``"down"``) or both (``"both"``).
    history
        Recent values kept to compute the means of a change point (>= 1).
    """

    state_type = "page_hinkley"
    param_names = ("min_instances", "delta", "threshold", "alpha", "mode")
    _river_class = PageHinkley
    _pickled_classes = (Mean,)
    # river keeps the mode's test as a bound method, which pickles as builtins.getattr (a way
    # to reach any attribute of any object, so never allowed); river's constructor rebuilds it.
    _rebuilt_attributes = frozenset({"_test_drift"})

    def __init__(
        self,
        *,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        history: int = 100_000,
    ) -> None:
        self.min_instances = integer_at_least("min_instances", min_instances, 1)
        self.delta = real_number("delta", delta)
        if self.delta < 0:
            raise ValueError(f"delta must be >= 0, got {delta!r}")
        self.threshold = positive("threshold", threshold)
        self.alpha = real_number("alpha", alpha)
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        super().__init__(history=history)

    def _change_direction(self) -> int:
        if self.mode != "both":
            return 1 if self.mode == "up" else -1
        river = self._river
        rise = river._sum_increase - river._min_increase
        fall = river._max_decrease - river._sum_decrease
        return 1 if rise >= fall else -1

    @property
    def estimation(self) -> float | None:
        """Running mean of the values since the last reset."""
        mean = self._river._x_mean
        return float(mean.get()) if mean.n else None

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {}
        yield {"min_instances": 100, "delta": 0.01, "threshold": 20.0, "alpha": 1.0, "mode": "up"}

    @classmethod
    def _invalid_params(cls) -> Iterator[dict[str, Any]]:
        yield {"min_instances": 0}
        yield {"delta": -0.1}
        yield {"threshold": 0.0}
        yield {"threshold": float("inf")}
        yield {"alpha": 0.0}
        yield {"alpha": 1.5}
        yield {"mode": "sideways"}
        yield {"history": 0}
