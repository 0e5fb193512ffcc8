"""Count windows of a stream of judgements, and runs of them, for window-based alerts.

Fairness and champion-challenger alerts follow the same rule as data-drift alerts: fire
after ``fire_after`` violating windows in a row, resolve after ``resolve_after`` clean
ones. A :class:`WindowSpan` describes the window being filled (its index, size, first and
last event) in the same shape as data-drift alert windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Streak:
    bad: int = 0
    good: int = 0
    firing: bool = False
    started: dict[str, Any] | None = None  # the first window of the violating run

    def step(
        self, violated: bool, window: dict[str, Any], fire_after: int, resolve_after: int
    ) -> str | None:
        """Advance by one window; ``"firing"`` or ``"resolved"`` when the alert changes."""
        if violated:
            if self.bad == 0:
                self.started = window
            self.bad += 1
            self.good = 0
            if not self.firing and self.bad >= fire_after:
                self.firing = True
                return "firing"
            return None
        self.good += 1
        self.bad = 0
        if self.firing and self.good >= resolve_after:
            self.firing = False
            return "resolved"
        return None

    def snapshot(self) -> list[Any]:
        return [self.bad, self.good, self.firing, self.started]

    @classmethod
    def restore(cls, state: list[Any]) -> Streak:
        return cls(*state)


class WindowSpan:
    """The window being filled: how many events, and where they start and end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.index = 0
        self.n = 0
        self.start_time = 0.0
        self.end_time = 0.0
        self.first = (0, 0)
        self.last = (0, 0)

    def add(self, ts: float, partition: int, offset: int) -> None:
        if self.n == 0:
            self.start_time = self.end_time = ts
            self.first = (partition, offset)
        else:
            self.start_time = min(self.start_time, ts)
            self.end_time = max(self.end_time, ts)
        self.last = (partition, offset)
        self.n += 1

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "events": self.n,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "start": {"partition": self.first[0], "offset": self.first[1]},
            "end": {"partition": self.last[0], "offset": self.last[1]},
        }

    def next(self) -> None:
        self.index += 1
        self.n = 0

    def snapshot(self) -> list[Any]:
        return [self.index, self.n, self.start_time, self.end_time, self.first, self.last]

    def restore(self, state: list[Any]) -> None:
        self.index, self.n, self.start_time, self.end_time = state[:4]
        self.first, self.last = tuple(state[4]), tuple(state[5])
