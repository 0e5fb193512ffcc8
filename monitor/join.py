"""Bounded join of split events by ``(model, id)`` within an event-time time-to-live.

Time is event time: an entry expires once the task's watermark (the largest event time
seen) has passed its own time plus the TTL. Using event time rather than the wall clock
makes the join's result depend only on the input, so a replay or a restart from a
checkpoint reaches the same joins. ``max_pending`` bounds memory whatever the stream:
past it the oldest entries are expired early.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from monitor.event_columns import decoded_batch
from monitor.events import Event, event_value

Key = tuple[str, str]


@dataclass(slots=True)
class JoinResult:
    completed: list[Event]
    expired: list[Event]
    duplicates: int


class JoinBuffer:
    def __init__(self, ttl_seconds: float, max_pending: int) -> None:
        if ttl_seconds <= 0 or max_pending < 1:
            raise ValueError("ttl_seconds must be > 0 and max_pending >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.watermark = float("-inf")
        self._pending: dict[Key, tuple[int, Event]] = {}
        # Min-heap on event time with lazy deletion: completed entries stay in the heap
        # until they reach its top, and the heap is rebuilt when stale entries dominate.
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, events: Iterable[Event]) -> JoinResult:
        batch = decoded_batch(events) if isinstance(events, list) else None
        if batch is not None:  # fast-lane events: complete by construction
            newest = float(batch.ts.max())
            self.watermark = max(self.watermark, newest)
            return JoinResult(list(events), self._expire(), 0)
        completed: list[Event] = []
        duplicates = 0
        pending = self._pending
        watermark = self.watermark
        for event in events:
            if event.ts > watermark:
                watermark = self.watermark = event.ts
            if event.features is not None and event.prediction is not None:
                completed.append(event)
                continue
            key = (event.model, event.id)
            held = pending.get(key)
            if held is None:
                seq = next(self._seq)
                pending[key] = (seq, event)
                heapq.heappush(self._heap, (event.ts, seq, key))
                continue
            merged = _merge(held[1], event)
            if merged is None:
                duplicates += 1
                continue
            del pending[key]
            completed.append(merged)
        expired = self._expire()
        return JoinResult(completed, expired, duplicates)

    def _expire(self) -> list[Event]:
        expired: list[Event] = []
        horizon = self.watermark - self.ttl_seconds
        heap, pending = self._heap, self._pending
        while heap and (heap[0][0] < horizon or len(pending) > self.max_pending):
            _, seq, key = heapq.heappop(heap)
            held = pending.get(key)
            if held is not None and held[0] == seq:
                del pending[key]
                expired.append(held[1])
        if len(heap) > 2 * len(pending) + 1024:
            self._heap = [(event.ts, seq, key) for key, (seq, event) in pending.items()]
            heapq.heapify(self._heap)
        return expired

    def snapshot(self) -> dict[str, Any]:
        return {
            "watermark": self.watermark,
            "pending": [
                event_value(event) for _, event in sorted(self._pending.values(), key=_first)
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._pending.clear()
        self._heap.clear()
        self.watermark = float(state["watermark"])
        for item in state["pending"]:
            event = Event(*item)
            seq = next(self._seq)
            key = (event.model, event.id)
            self._pending[key] = (seq, event)
            self._heap.append((event.ts, seq, key))
        heapq.heapify(self._heap)


def _first(item: tuple[int, Event]) -> int:
    return item[0]


def _merge(first: Event, second: Event) -> Event | None:
    """Combine two halves; ``None`` when the second adds nothing (a duplicate half)."""
    features = first.features if first.features is not None else second.features
    prediction = first.prediction if first.prediction is not None else second.prediction
    if features is None or prediction is None:
        return None
    # The event time of a decision is the time its features were seen.
    base = first if first.features is not None else second
    other = second if base is first else first
    # Both halves' trace headers; the features half's value wins a name both carry.
    headers = {**(other.headers or {}), **(base.headers or {})} or None
    return Event(
        base.model,
        base.id,
        base.ts,
        base.version or first.version or second.version,
        features,
        prediction,
        base.label,
        base.topic,
        base.partition,
        base.offset,
        headers,
        first.attributes if first.attributes is not None else second.attributes,
    )
