"""Envelope columns (time, partition, offset, version, key) of a list of events.

A batch's events pass through several stages, and each pass over thousands of event
objects costs cache misses of its own on a small machine. When a stage is handed exactly
the list of events the fast lane decoded (checked by identity, without reading them), it
reads the columns the decoder kept instead; any other list is read event by event.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np

from monitor.events import Event, event_offset, event_partition, event_ts, event_version
from monitor.fastlane import ColumnBatch

_key_of = attrgetter("model", "id")


def decoded_batch(events: Sequence[Event]) -> ColumnBatch | None:
    """The column batch whose events are exactly ``events``, in order; else None."""
    if not events:
        return None
    columns = events[0].columns
    if columns is not None and columns.events == events:
        return columns
    return None


def stamps(events: Sequence[Event]) -> np.ndarray:
    batch = decoded_batch(events)
    if batch is not None:
        return batch.ts
    return np.fromiter(map(event_ts, events), np.float64, len(events))


def partitions(events: Sequence[Event]) -> np.ndarray:
    batch = decoded_batch(events)
    if batch is not None:
        return batch.partition
    return np.fromiter(map(event_partition, events), np.int32, len(events))


def offsets(events: Sequence[Event]) -> np.ndarray:
    batch = decoded_batch(events)
    if batch is not None:
        return batch.offset
    return np.fromiter(map(event_offset, events), np.int64, len(events))


def versions(events: Sequence[Event]) -> list[str | None]:
    batch = decoded_batch(events)
    if batch is not None:
        return batch.version
    return list(map(event_version, events))


def keys(events: Sequence[Event]) -> list[tuple[str, str]]:
    """``(model, id)`` of every event."""
    batch = decoded_batch(events)
    if batch is not None:
        return list(zip(repeat(events[0].model, len(batch.ids)), batch.ids, strict=True))
    result: list[Any] = list(map(_key_of, events))
    return result
