"""Shared machinery of the streaming detectors that wrap river's concept-drift detectors.

A subclass names its river class and constructor arguments and, if it differs from the
default, where its evidence for a change begins and which direction a detection can have. This
base class owns everything else: input validation, the loop over river's ``update``, the index
bookkeeping, the bounded history of recent values, the change-point estimate and the JSON state.

Change point: see :mod:`detectors._change_estimate`.

State
-----
``to_state()`` holds the constructor arguments (top level, like the batch detectors), the
counters, the history buffer (little-endian float64, base64) and the river object's attributes
as base64 pickle text. Loading never trusts that pickle: it goes through
:func:`detectors._safe_pickle.restricted_loads` with the detector's short list of classes, and
the result must have exactly the attributes, types and constructor arguments of a freshly built
river object. What cannot be checked is the inside of ADWIN's Rust window (opaque bytes): a
tampered but well-formed window can give wrong detections or a Rust panic, never run code.

With the default ``history=100_000`` the buffer adds about 1.1 MB of base64 to the state.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike

from detectors._change_estimate import MIN_SPLIT_SIDE, most_likely_split
from detectors._common import STATE_VERSION, FloatArray, check_state, float_vector, integer_at_least
from detectors._safe_pickle import check_same_shape, dumps, restricted_loads
from detectors.change_point import ChangePoint

_HISTORY_DTYPE = np.dtype("<f8")


class StreamingDetector(ABC):
    """Base class: a river drift detector fed one signal value at a time."""

    state_type: ClassVar[str]
    input_kind: ClassVar[str] = "numeric"
    # Constructor arguments other than ``history`` (all keyword-only, all public attributes).
    param_names: ClassVar[tuple[str, ...]]
    _river_class: ClassVar[type]
    # The only classes the river object's pickle may reference.
    _pickled_classes: ClassVar[tuple[type, ...]]
    # River attributes that cannot be pickled safely and that river rebuilds in its constructor.
    _rebuilt_attributes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, history: int) -> None:
        self.history = integer_at_least("history", history, 1)
        self._values: deque[float] = deque(maxlen=self.history)
        self._n_seen = 0
        self._n_detections = 0
        # Index of the first value since river's last reset (river resets after a detection).
        self._segment_start = 0
        self._river: Any = self._river_class(**self._river_kwargs())

    # -- what a subclass provides ---------------------------------------------------------------

    def _river_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the river constructor (also checked when loading a state)."""
        return {name: getattr(self, name) for name in self.param_names}

    @property
    @abstractmethod
    def estimation(self) -> float | None:
        """The detector's current estimate of the signal mean (``None`` before any value)."""

    def _evidence_start(self, detected_at: int) -> int:
        """Index of the first value the detector weighed for the detection at ``detected_at``."""
        return self._segment_start

    def _change_direction(self) -> int:
        """+1 (-1) if the detection that just fired can only be an increase (a decrease) of the
        mean, 0 if it can be either."""
        return 0

    def _estimate_change(self, detected_at: int) -> int:
        start, evidence = self._held_values(self._evidence_start(detected_at), detected_at + 1)
        return start + most_likely_split(evidence, MIN_SPLIT_SIDE, self._change_direction())

    def _check_signal(self, values: FloatArray) -> None:
        """Reject values outside the detector's domain (subclasses may narrow it)."""
        if not np.all(np.isfinite(values)):
            raise ValueError("values must not contain NaN or infinite values")

    # -- public API -----------------------------------------------------------------------------

    @property
    def params(self) -> dict[str, Any]:
        """The constructor arguments, as keyword arguments."""
        return {**{name: getattr(self, name) for name in self.param_names}, "history": self.history}

    @property
    def n_seen(self) -> int:
        """Number of values fed so far."""
        return self._n_seen

    @property
    def n_detections(self) -> int:
        """Number of detections so far."""
        return self._n_detections

    def update_many(self, values: ArrayLike) -> list[ChangePoint]:
        """Feed ``values`` in order; return one :class:`ChangePoint` per detection.

        The whole batch is validated before any value is fed, so a rejected batch
        (``ValueError``: not 1-D, NaN or infinite values, or values outside the detector's
        domain) leaves the detector untouched.
        """
        array = float_vector("values", values)
        self._check_signal(array)
        change_points = []
        river, keep, first = self._river, self._values.append, self._n_seen
        update = river.update
        # river wants Python floats, not numpy scalars.
        for offset, value in enumerate(array.tolist()):
            keep(value)
            update(value)
            if river.drift_detected:
                detected_at = first + offset
                self._n_seen = detected_at + 1  # what the history holds so far
                self._n_detections += 1
                change_points.append(self._change_point(detected_at))
                self._segment_start = detected_at + 1
        self._n_seen = first + array.size
        return change_points

    # -- change points --------------------------------------------------------------------------

    def _change_point(self, detected_at: int) -> ChangePoint:
        change_index = min(max(self._estimate_change(detected_at), 0), detected_at)
        length_after = detected_at - change_index + 1
        return ChangePoint(
            detected_at=detected_at,
            change_index=change_index,
            mean_before=self._mean_between(change_index - length_after, change_index),
            mean_after=self._mean_between(change_index, detected_at + 1),
            detector=self.state_type,
            params=self.params,
        )

    def _mean_between(self, start: int, stop: int) -> float | None:
        """Mean of the values at indices [start, stop) that the history still holds."""
        _, values = self._held_values(start, stop)
        return float(values.mean()) if values.size else None

    def _held_values(self, start: int, stop: int) -> tuple[int, FloatArray]:
        """The values at indices [start, stop) still in the history, and the first one's index."""
        oldest = self._n_seen - len(self._values)
        start = max(start, oldest)
        count = max(stop - start, 0)
        window = itertools.islice(self._values, start - oldest, start - oldest + count)
        return start, np.fromiter(window, dtype=np.float64, count=count)

    # -- state ----------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-compatible state; :meth:`from_state` rebuilds a detector that continues exactly
        as this one would."""
        attributes = {
            # KSWIN keeps scipy's p-value as a numpy scalar: store the equal Python number.
            name: value.item() if isinstance(value, np.generic) else value
            for name, value in vars(self._river).items()
            if name not in self._rebuilt_attributes
        }
        history = np.fromiter(self._values, dtype=_HISTORY_DTYPE, count=len(self._values))
        return {
            "type": self.state_type,
            "state_version": STATE_VERSION,
            **self.params,
            "n_seen": self._n_seen,
            "n_detections": self._n_detections,
            "segment_start": self._segment_start,
            "values": base64.b64encode(history.tobytes()).decode("ascii"),
            "river": dumps(attributes),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a detector from :meth:`to_state`; any malformed state raises ValueError."""
        if not isinstance(state, dict):
            raise ValueError("state must be a dictionary")
        check_state(state, cls.state_type)
        missing = [name for name in (*cls.param_names, "history") if name not in state]
        if missing:
            raise ValueError(f"state is missing {missing}")
        detector = cls(**{name: state[name] for name in (*cls.param_names, "history")})
        detector._restore(state)
        return detector

    def _restore(self, state: dict[str, Any]) -> None:
        self._n_seen = integer_at_least("n_seen", state.get("n_seen"), 0)
        self._n_detections = integer_at_least("n_detections", state.get("n_detections"), 0)
        self._segment_start = integer_at_least("segment_start", state.get("segment_start"), 0)
        if self._segment_start > self._n_seen:
            raise ValueError("segment_start must not exceed n_seen")
        values = _decode_history(state.get("values"))
        if values.size != min(self._n_seen, self.history):
            raise ValueError("history length does not match n_seen and history")
        self._values.extend(values.tolist())
        attributes = restricted_loads(state.get("river"), self._pickled_classes)
        fresh = dict(vars(self._river))
        for name in self._rebuilt_attributes:
            fresh.pop(name, None)
        check_same_shape(fresh, attributes, "river")
        for name, expected in self._river_kwargs().items():
            if attributes[name] != expected:
                raise ValueError(f"river.{name} does not match the constructor arguments")
        vars(self._river).update(attributes)


def _decode_history(text: Any) -> FloatArray:
    if not isinstance(text, str):
        raise ValueError("values must be a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise ValueError("values are not valid base64") from error
    if len(raw) % _HISTORY_DTYPE.itemsize:
        raise ValueError("values are not a whole number of float64")
    values = np.frombuffer(raw, dtype=_HISTORY_DTYPE).astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("values must be finite")
    return values
