"""The record a streaming (concept-drift) detector returns for each detection.

A :class:`ChangePoint` says when a detector fired, where it estimates the change began, and
the mean of the monitored signal on either side of that estimate, so that an alert can say
"the error rate went from 5% to 25%" instead of only "ADWIN fired".

>>> from detectors.change_point import ChangePoint
>>> change = ChangePoint(
...     detected_at=10_111, change_index=10_016, mean_before=0.05, mean_after=0.26,
...     detector="adwin", params={"delta": 0.002},
... )
>>> change.delay
95
>>> change.to_dict()["mean_after"]
0.26
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """One detection of a streaming detector.

    Parameters
    ----------
    detected_at
        0-based index, over the detector's whole life, of the value at which it fired.
    change_index
        Estimated index of the first value after the change (each detector documents its
        estimate); always ``<= detected_at``.
    mean_before
        Mean of the signal over ``[change_index - k, change_index)`` with
        ``k = detected_at - change_index + 1`` (as many values as after the change), clipped to
        the values the detector's history buffer still holds; ``None`` if none are left.
    mean_after
        Mean of the signal over ``[change_index, detected_at]``, clipped the same way.
    detector
        Name of the detector (its registry key, e.g. ``"adwin"``).
    params
        The detector's constructor arguments.
    """

    detected_at: int
    change_index: int
    mean_before: float | None
    mean_after: float | None
    detector: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def delay(self) -> int:
        """Values between the estimated change and the detection (the detection delay)."""
        return self.detected_at - self.change_index

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dictionary (a deep copy: mutating it leaves the record intact)."""
        return {
            "detected_at": self.detected_at,
            "change_index": self.change_index,
            "mean_before": self.mean_before,
            "mean_after": self.mean_after,
            "detector": self.detector,
            "params": copy.deepcopy(self.params),
        }
