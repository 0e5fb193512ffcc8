"""Windows over a monitor's rows: count tumbling, count sliding, event-time tumbling.

Every window owns fixed buffers sized by its configuration, so memory depends on the
configuration only, never on the length of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.arrays import (
    OFFSET,
    PARTITION,
    TS,
    Block,
    block_len,
    concat,
    pack,
    pack_block,
    sample_keys,
    take,
    unpack,
    unpack_block,
)
from monitor.config_drift import EventTimeWindow, SlidingWindow, TumblingWindow


@dataclass(slots=True)
class ClosedWindow:
    name: str
    index: int
    rows: Block
    n: int
    start_time: float
    end_time: float
    first: tuple[int, int]  # (partition, offset) of the first row
    last: tuple[int, int]
    too_small: bool = False

    @classmethod
    def of(cls, name: str, index: int, rows: Block, **extra: Any) -> ClosedWindow:
        ts = rows[TS]
        first = int(np.argmin(rows[OFFSET])) if len(ts) else 0
        last = int(np.argmax(rows[OFFSET])) if len(ts) else 0
        return cls(
            name,
            index,
            rows,
            len(ts),
            extra.pop("start_time", float(ts.min()) if len(ts) else 0.0),
            extra.pop("end_time", float(ts.max()) if len(ts) else 0.0),
            (int(rows[PARTITION][first]), int(rows[OFFSET][first])) if len(ts) else (0, 0),
            (int(rows[PARTITION][last]), int(rows[OFFSET][last])) if len(ts) else (0, 0),
            **extra,
        )


class _Buffer:
    """Fixed-size column buffers filled in order."""

    def __init__(self, template: Block, size: int) -> None:
        self.size = size
        self.columns = {name: np.empty(size, dtype=col.dtype) for name, col in template.items()}
        self.fill = 0

    def write(self, block: Block, start: int, count: int, at: int) -> None:
        for name, column in self.columns.items():
            column[at : at + count] = block[name][start : start + count]


class TumblingCount:
    def __init__(self, spec: TumblingWindow) -> None:
        self.spec = spec
        self.name = spec.name
        self.index = 0
        self._buffer: _Buffer | None = None

    def add(self, block: Block) -> list[ClosedWindow]:
        n = block_len(block)
        if self._buffer is None:
            self._buffer = _Buffer(block, self.spec.size)
        buf, closed, pos = self._buffer, [], 0
        while pos < n:
            count = min(buf.size - buf.fill, n - pos)
            buf.write(block, pos, count, buf.fill)
            buf.fill += count
            pos += count
            if buf.fill == buf.size:
                rows = {name: column.copy() for name, column in buf.columns.items()}
                closed.append(ClosedWindow.of(self.name, self.index, rows))
                self.index += 1
                buf.fill = 0
        return closed

    def snapshot(self) -> dict[str, Any]:
        buf = self._buffer
        rows = pack_block(take(buf.columns, slice(0, buf.fill))) if buf else None
        return {"index": self.index, "rows": rows}

    def restore(self, state: dict[str, Any]) -> None:
        self.index = state["index"]
        self._buffer = None
        if state["rows"] is not None:
            rows = unpack_block(state["rows"])
            self._buffer = _Buffer(rows, self.spec.size)
            fill = block_len(rows)
            self._buffer.write(rows, 0, fill, 0)
            self._buffer.fill = fill


class SlidingCount:
    """The last ``size`` rows, evaluated every ``hop`` rows once ``size`` rows were seen."""

    def __init__(self, spec: SlidingWindow) -> None:
        self.spec = spec
        self.name = spec.name
        self.index = 0
        self.seen = 0
        self.since = 0
        self._ring: _Buffer | None = None
        self._head = 0  # next write position

    def add(self, block: Block) -> list[ClosedWindow]:
        n = block_len(block)
        if self._ring is None:
            self._ring = _Buffer(block, self.spec.size)
        ring, size, hop = self._ring, self.spec.size, self.spec.hop
        closed, pos = [], 0
        while pos < n:
            # Write up to the next evaluation point or the ring's end, whichever is first.
            due = hop - self.since if self.seen >= size else size - self.seen
            count = min(n - pos, size - self._head, max(due, 1))
            ring.write(block, pos, count, self._head)
            self._head = (self._head + count) % size
            pos += count
            self.seen += count
            self.since += count
            if self.seen >= size and (self.since >= hop or self.seen == size):
                order = np.r_[self._head : size, 0 : self._head]
                rows = {name: column[order] for name, column in ring.columns.items()}
                closed.append(ClosedWindow.of(self.name, self.index, rows))
                self.index += 1
                self.since = 0
        return closed

    def snapshot(self) -> dict[str, Any]:
        ring = self._ring
        return {
            "index": self.index,
            "seen": self.seen,
            "since": self.since,
            "head": self._head,
            "rows": pack_block(ring.columns) if ring else None,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.index, self.seen, self.since = state["index"], state["seen"], state["since"]
        self._head = state["head"]
        self._ring = None
        if state["rows"] is not None:
            rows = unpack_block(state["rows"])
            self._ring = _Buffer(rows, self.spec.size)
            self._ring.write(rows, 0, self.spec.size, 0)


class EventTimeTumbling:
    """Windows aligned on event time; a window closes when the watermark (newest event
    time seen) passes its end plus the allowed lateness. Rows for a closed window are late:
    counted, not used. Each open window keeps at most ``max_events`` rows, a uniform sample
    chosen by :func:`~monitor.arrays.sample_keys`."""

    def __init__(self, spec: EventTimeWindow) -> None:
        self.spec = spec
        self.name = spec.name
        self.watermark = float("-inf")
        self.closed_until = float("-inf")  # windows ending at or before this are closed
        self.late = 0
        self._open: dict[int, list[Block]] = {}
        self._sizes: dict[int, int] = {}

    def add(self, block: Block) -> list[ClosedWindow]:
        spec = self.spec
        ts = block[TS]
        if len(ts) == 0:
            return []
        window_ids = np.floor(ts / spec.seconds).astype(np.int64)
        late = (window_ids + 1) * spec.seconds <= self.closed_until
        self.late += int(late.sum())
        for window_id in np.unique(window_ids[~late]):
            rows = take(block, (window_ids == window_id) & ~late)
            wid = int(window_id)
            self._open.setdefault(wid, []).append(rows)
            self._sizes[wid] = self._sizes.get(wid, 0) + block_len(rows)
            if self._sizes[wid] > 2 * spec.max_events:
                self._compact(wid)
        self.watermark = max(self.watermark, float(ts.max()))
        return self._close_due()

    def _compact(self, wid: int) -> None:
        rows = concat(self._open[wid])
        if block_len(rows) > self.spec.max_events:
            keys = sample_keys(rows["__partition"], rows["__offset"])
            keep = np.sort(np.argpartition(keys, self.spec.max_events)[: self.spec.max_events])
            rows = take(rows, keep)
        self._open[wid] = [rows]
        self._sizes[wid] = block_len(rows)

    def _close_due(self) -> list[ClosedWindow]:
        spec, closed = self.spec, []
        for wid in sorted(self._open):
            end = (wid + 1) * spec.seconds
            if end + spec.allowed_lateness_seconds > self.watermark:
                break
            self._compact(wid)
            rows = self._open.pop(wid)[0]
            n = self._sizes.pop(wid)
            closed.append(
                ClosedWindow.of(
                    self.name,
                    wid,
                    rows,
                    start_time=wid * spec.seconds,
                    end_time=end,
                    too_small=n < spec.min_events,
                )
            )
            self.closed_until = max(self.closed_until, end)
        return closed

    def snapshot(self) -> dict[str, Any]:
        for wid in list(self._open):
            self._compact(wid)
        return {
            "watermark": self.watermark,
            "closed_until": self.closed_until,
            "late": self.late,
            "open": [[wid, pack_block(blocks[0])] for wid, blocks in self._open.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.watermark, self.closed_until = state["watermark"], state["closed_until"]
        self.late = state["late"]
        self._open = {wid: [unpack_block(rows)] for wid, rows in state["open"]}
        self._sizes = {wid: block_len(blocks[0]) for wid, blocks in self._open.items()}


Window = TumblingCount | SlidingCount | EventTimeTumbling


def make_window(spec: TumblingWindow | SlidingWindow | EventTimeWindow) -> Window:
    if isinstance(spec, TumblingWindow):
        return TumblingCount(spec)
    if isinstance(spec, SlidingWindow):
        return SlidingCount(spec)
    return EventTimeTumbling(spec)


__all__ = ["ClosedWindow", "Window", "make_window", "pack", "unpack"]
