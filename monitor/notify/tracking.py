"""Bookkeeping of delivery progress: which offsets may be committed, what was delivered.

``OffsetTracker`` holds every alert read but not yet handled by all its sinks; the offset
committed for a partition is the lowest such alert's, so a crash redelivers it (and what
follows) but never skips it. ``DeliveryLedger`` remembers, per sink, the last status
delivered for each dedup key, to suppress repeats while the process runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import TopicPartition


@dataclass(slots=True, eq=False)
class _PartitionProgress:
    # offset -> names of the sinks still to finish it; offsets are added in increasing
    # order, so the first key is always the lowest.
    outstanding: dict[int, set[str]] = field(default_factory=dict)
    next_offset: int | None = None
    committed: int | None = None
    # Set when the partition is revoked: late completions of its alerts are ignored.
    cancelled: bool = False


@dataclass(slots=True, eq=False)
class PendingAlert:
    """One alert record until each of its routed sinks is done with it."""

    topic_partition: TopicPartition
    offset: int
    _progress: _PartitionProgress

    @property
    def cancelled(self) -> bool:
        return self._progress.cancelled


class OffsetTracker:
    """Thread-safe: the consumer thread adds, sink workers finish, commits read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartition, _PartitionProgress] = {}

    def track(self, tp: TopicPartition, offset: int, sinks: Iterable[str]) -> PendingAlert:
        with self._lock:
            progress = self._partitions.setdefault(tp, _PartitionProgress())
            owners = set(sinks)
            if owners:
                progress.outstanding[offset] = owners
            progress.next_offset = offset + 1
            return PendingAlert(tp, offset, progress)

    def finish(self, pending: PendingAlert, sink: str) -> None:
        """``sink`` is done with the alert (delivered, repeat, or dead-lettered).

        Idempotent per sink, so a second report of one outcome cannot finish another
        sink's share.
        """
        with self._lock:
            outstanding = pending._progress.outstanding
            remaining = outstanding.get(pending.offset)
            if pending._progress.cancelled or remaining is None:
                return
            remaining.discard(sink)
            if not remaining:
                del outstanding[pending.offset]

    def committable(self, only: set[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets that may be committed now and differ from the last commit."""
        result = {}
        with self._lock:
            for tp, progress in self._partitions.items():
                if only is not None and tp not in only:
                    continue
                if progress.outstanding:
                    target = next(iter(progress.outstanding))
                elif progress.next_offset is not None:
                    target = progress.next_offset
                else:
                    continue
                if target != progress.committed:
                    result[tp] = target
        return result

    def committed(self, offsets: dict[TopicPartition, int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                progress = self._partitions.get(tp)
                if progress is not None:
                    progress.committed = offset

    def forget(self, partitions: set[TopicPartition]) -> None:
        """The partitions are no longer ours: drop their progress, ignore late finishes."""
        with self._lock:
            for tp in partitions:
                progress = self._partitions.pop(tp, None)
                if progress is not None:
                    progress.cancelled = True

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(len(p.outstanding) for p in self._partitions.values())


@dataclass(slots=True, frozen=True)
class _Delivered:
    status: str
    partition: int
    offset: int


class DeliveryLedger:
    """Per sink, the last status delivered for each dedup key (least recently used evicted).

    An alert is a repeat when its status is the one last delivered for its key (the daemon
    re-emitted it, or the record was read twice), or when it is an older record of the
    same partition than the one last delivered (a replay after a rebalance). A key that
    fires again after resolving is delivered: its status differs from the last one.
    Not thread-safe: each sink worker owns its ledger.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, _Delivered] = OrderedDict()

    def is_repeat(self, dedup_key: str, status: str, partition: int, offset: int) -> bool:
        last = self._entries.get(dedup_key)
        if last is None:
            return False
        self._entries.move_to_end(dedup_key)
        replayed = last.partition == partition and offset <= last.offset
        return replayed or last.status == status

    def record(self, dedup_key: str, status: str, partition: int, offset: int) -> None:
        self._entries[dedup_key] = _Delivered(status, partition, offset)
        self._entries.move_to_end(dedup_key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
