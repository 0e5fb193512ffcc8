"""When to try again: exponential backoff with full jitter, Retry-After, rate limits."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable

# A receiver asking for more than a day is misconfigured; waiting that long helps no one.
MAX_RETRY_AFTER_SECONDS = 86_400.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    None when absent or unreadable (the caller then falls back to its own backoff).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a zone-less one is read as such
        return None
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), MAX_RETRY_AFTER_SECONDS)


class Backoff:
    """Exponential backoff capped at ``maximum``; with jitter, uniform in ``[0, cap]``
    ("full jitter"), so many notifiers retrying one receiver spread out."""

    def __init__(
        self,
        initial: float,
        maximum: float,
        jitter: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self.rng = rng or random.Random()

    def cap(self, retry: int) -> float:
        """The longest wait before retry number ``retry`` (1 for the first retry)."""
        exponent = min(max(retry - 1, 0), 60)  # 2**60 s is beyond any maximum
        return min(self.maximum, self.initial * 2.0**exponent)

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        # The receiver knows its own state better than our guess: honour what it asked.
        if retry_after is not None:
            return retry_after
        cap = self.cap(retry)
        return self.rng.uniform(0.0, cap) if self.jitter else cap


class TokenBucket:
    """At most ``per_minute`` acquisitions per minute, evenly spaced (capacity one).

    Callers beyond the rate wait, so nothing is dropped; the wait ends early (returning
    False) when ``stopping`` is set. A receiver counts requests as they reach it, which is
    anywhere between an attempt's start and its end: so the next attempt also waits an
    interval from the end of the last one (``finished``). Otherwise an attempt slowed in
    flight and a quick one after it would reach the receiver closer than the interval.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._next_free = clock()

    def acquire(self, stopping: threading.Event) -> bool:
        while True:
            now = self._clock()
            if now >= self._next_free:
                self._next_free = now + self.interval
                return True
            if stopping.wait(self._next_free - now):
                return False

    def finished(self) -> None:
        """The attempt that the last ``acquire`` allowed has ended."""
        self._next_free = max(self._next_free, self._clock() + self.interval)
