"""The label join's two large collections, with checkpoints that cost O(change).

Up to ``labels.max_pending`` decisions wait for their labels, and as many keys of expired
decisions are remembered; both are in the task's state. Encoding all of them at every
checkpoint (200 000 decisions: about 100 ms on the main loop, mostly cache misses, and as
much again to compress them) held up every window that closed meanwhile.

Here each is kept the way it is read (a dict, oldest first), and its checkpoint form in
*segments*. Waiting decisions are encoded as they arrive, a batch at a time, as columns
still in the cache (encoding them at the checkpoint read 50 000 scattered objects: about
100 ms); a checkpoint joins what arrived since the previous one into a segment and
compresses it once, and later checkpoints copy those bytes. What leaves a sealed segment
is noted beside it (a label's key; a count for expiry, which always takes the oldest); a
segment is re-encoded only when more of it left by label than is left, and dropped when
nothing of it is left. A checkpoint thus encodes what changed since the previous one.
Restores build the same dict, oldest first, as before.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from itertools import islice
from operator import attrgetter, is_
from typing import Any

import msgspec

Key = tuple[str, str]
_encode = msgspec.msgpack.Encoder().encode
# Decisions encoded since the last seal are sealed into a segment at this count even when
# no checkpoint comes (replay, a daemon without a state topic): what they hold stays
# bounded by ``labels.max_pending``, not by the length of the stream.
SEAL_EVERY = 50_000


class Decision(msgspec.Struct, array_like=True, gc=False):
    """A decision waiting for its label; encoded as ``[ts, predicted, partition, offset]``,
    and never looked at by the collector."""

    ts: float
    predicted: Any  # class label (str) or value (float)
    partition: int
    offset: int
    # Its place in the order of arrival (set when it starts waiting): a checkpoint segment
    # holds a range of these, so neither sealing a segment nor finding a decision's costs
    # a write or a second dict per waiting decision.
    seq: int = -1


_seq_of = attrgetter("seq")


class _Segment:
    """Decisions that started waiting between two checkpoints (``seq`` in ``[start,
    end)``), encoded when they arrived."""

    __slots__ = ("blob", "dropped", "end", "gone", "gone_blobs", "gone_count", "keys", "start")

    def __init__(self, start: int, end: int, keys: list[Key], blob: bytes) -> None:
        self.start = start
        self.end = end
        self.reset(keys, blob)

    def reset(self, keys: list[Key], blob: bytes) -> None:
        self.keys = keys  # in order of arrival; a key re-sent meanwhile is here twice
        self.blob = blob  # LZ4 frame of their chunks (see ``_chunk``)
        # Keys of the blob that left because their label came (or they were re-sent): the
        # ones since the last checkpoint, and those before it, as encoded then. A key's
        # earliest arrivals leave first.
        self.gone: list[Key] = []
        self.gone_blobs: list[bytes] = []
        self.gone_count = 0
        # Expiry takes the oldest waiting decisions: the first ``dropped`` keys of the blob
        # that are not gone. A count, so that a segment ageing out costs nothing to encode.
        self.dropped = 0

    @property
    def left(self) -> int:
        return len(self.keys) - self.gone_count - self.dropped

    def snapshot(self) -> list[Any]:
        if self.gone:
            self.gone_blobs.append(_encode(self.gone))
            self.gone = []
        return [self.blob, self.dropped, [msgspec.Raw(b) for b in self.gone_blobs]]


class WaitingDecisions:
    """Decisions by (model, id), oldest first; ``put`` of a waiting key moves it last.

    Each batch of decisions is encoded as it arrives (a chunk of columns, read while they
    are still in the cache); a checkpoint joins the chunks since the previous one into a
    segment and compresses it, with what has left them meanwhile noted beside it."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        # In order of arrival, so in ascending ``seq``.
        self._entries: dict[Key, Decision] = {}
        self._segments: list[_Segment] = []  # oldest first
        self._starts: list[int] = []  # each segment's start, for bisection
        self._next = 0  # the ``seq`` of the next decision
        self._sealed_until = 0  # decisions from this ``seq`` on are in no segment yet
        # Since the last seal: the chunks, their keys, and what left them; decisions put
        # one by one since the last chunk.
        self._chunks: list[bytes] = []
        self._loose: list[tuple[Key, Decision]] = []
        self._chunk_keys: list[list[Key]] = []
        self._gone: list[Key] = []
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[Key]:
        return iter(self._entries)

    def items(self) -> Iterator[tuple[Key, Decision]]:
        return iter(self._entries.items())

    def put(self, key: Key, decision: Decision) -> None:
        """A new ``decision`` for ``key``: it replaces one still waiting."""
        entries = self._entries
        old = entries.pop(key, None)
        if old is not None:
            self._left(key, old)
        decision.seq = self._next
        self._next += 1
        entries[key] = decision
        # Encoded with the next batch's chunk (or at the seal), not one chunk each.
        self._loose.append((key, decision))
        self._bound()

    def put_new(
        self,
        keys: list[Key],
        ts: list[float],
        predicted: list[Any],
        partitions: list[int],
        offsets: list[int],
    ) -> bool:
        """``put`` of a batch of decisions in a few passes in C, when every key is new and
        none repeats (the usual batch); False, and nothing changed, otherwise."""
        if not keys:
            return True
        start, entries = self._next, self._entries
        seqs = range(start, start + len(keys))
        decisions = list(map(Decision, ts, predicted, partitions, offsets, seqs))
        # One pass over the (large) dict: setdefault inserts a new key and leaves a
        # waiting one (or a repeat) alone, which shows as another decision in its place.
        placed = list(map(entries.setdefault, keys, decisions))
        if not all(map(is_, placed, decisions)):
            for key, decision in zip(keys, decisions, strict=True):
                if entries.get(key) is decision:
                    del entries[key]
            return False
        self._next += len(keys)
        self._encode_loose()
        self._chunks.append(_chunk(keys, ts, predicted, partitions, offsets))
        self._chunk_keys.append(keys)
        self._bound()
        return True

    def _encode_loose(self) -> None:
        """The decisions ``put`` one by one since the last chunk, as one chunk."""
        if self._loose:
            keys = [key for key, _ in self._loose]
            decisions = [decision for _, decision in self._loose]
            self._chunks.append(_chunk(keys, *_columns(decisions)))
            self._chunk_keys.append(keys)
            self._loose = []

    def _bound(self) -> None:
        if self._next - self._sealed_until >= SEAL_EVERY:
            self._seal()

    def pop(self, key: Key) -> Decision | None:
        """Remove a decision wherever it waits (its label came, or it was re-sent)."""
        decision = self._entries.pop(key, None)
        if decision is not None:
            self._left(key, decision)
        return decision

    def _left(self, key: Key, decision: Decision) -> None:
        if decision.seq >= self._sealed_until:
            self._gone.append(key)
            return
        segment = self._segments[bisect_right(self._starts, decision.seq) - 1]
        segment.gone.append(key)
        segment.gone_count += 1

    def drop_oldest(self, count: int) -> list[Key]:
        """Remove the ``count`` oldest decisions (expiry); their keys, oldest first."""
        entries = self._entries
        keys = list(islice(entries, count))
        seqs = list(map(_seq_of, map(entries.pop, keys)))  # ascending
        # Each segment's share of them is a run of ``seqs``: counted by bisection.
        done = 0
        for segment in self._segments:
            if done == len(seqs):
                break
            until = bisect_right(seqs, segment.end - 1, done)
            segment.dropped += until - done
            done = until
        self._dropped += len(seqs) - done  # the rest are in no segment yet
        return keys

    # -- checkpoints ------------------------------------------------------------------
    def snapshot(self) -> list[Any]:
        """``[[segment, dropped, [[gone key, ...], ...]], ...]``, oldest first; a segment
        is an LZ4 frame of the msgpack list of its chunks, each ``[[[model, id], ...],
        [ts, ...], [predicted, ...], [partition, ...], [offset, ...]]``."""
        self._seal()
        return [segment.snapshot() for segment in self._segments]

    def _seal(self) -> None:
        entries = self._entries
        kept = []
        for segment in self._segments:
            if not segment.left:
                continue
            if segment.gone_count > segment.left:  # more left by label than is left
                alive = sorted(
                    {k for k in segment.keys if _in(entries.get(k), segment)},
                    key=lambda k: entries[k].seq,
                )
                chunk = _chunk(alive, *_columns([entries[k] for k in alive]))
                segment.reset(alive, _compress([chunk]))
            kept.append(segment)
        self._encode_loose()
        if self._chunks:
            keys = [key for chunk in self._chunk_keys for key in chunk]
            segment = _Segment(self._sealed_until, self._next, keys, _compress(self._chunks))
            segment.gone, segment.gone_count = self._gone, len(self._gone)
            segment.dropped = self._dropped
            if segment.left:
                kept.append(segment)
        self._sealed_until = self._next
        self._chunks, self._chunk_keys, self._gone, self._dropped = [], [], [], 0
        self._segments = kept
        self._starts = [segment.start for segment in kept]

    def restore(self, saved: Any) -> None:
        """From ``snapshot``'s form, or the full map or list of earlier versions."""
        self._clear()
        if isinstance(saved, dict):
            parts = [saved]
        elif saved and isinstance(saved[0], list) and isinstance(saved[0][0], bytes):
            parts = [_unpack(*segment) for segment in saved]
        else:  # a list of entries, one per decision
            parts = [dict(_decision_entry(item) for item in saved)]
        pairs = [((m, i), _decision(f)) for part in parts for (m, i), f in part.items()]
        keys, decisions = [key for key, _ in pairs], [d for _, d in pairs]
        if not self.put_new(keys, *_columns(decisions)):
            for key, decision in pairs:
                self.put(key, decision)
        self._seal()


_FIELDS = ("ts", "predicted", "partition", "offset")


def _columns(decisions: list[Decision]) -> list[list[Any]]:
    return [list(map(attrgetter(field), decisions)) for field in _FIELDS]


def _chunk(
    keys: list[Key],
    ts: list[float],
    predicted: list[Any],
    partitions: list[int],
    offsets: list[int],
) -> bytes:
    return _encode([keys, ts, predicted, partitions, offsets])


def _compress(chunks: list[bytes]) -> bytes:
    # The list's header, then the chunks' bytes as they are.
    return bytes(_lz4().compress(_encode([msgspec.Raw(c) for c in chunks])))


def _unpack(blob: bytes, dropped: int, gone_lists: list[list[Any]]) -> dict[Any, Any]:
    """The decisions of one segment still waiting, in order: ``{(model, id): fields}``."""
    decoded = msgspec.msgpack.decode(_lz4().decompress(blob))
    gone = Counter((model, event_id) for lst in gone_lists for model, event_id in lst)
    if isinstance(decoded, dict):  # an earlier version's map: each key once
        entries: Iterable[tuple[Key, Any]] = (((m, i), f) for (m, i), f in decoded.items())
    else:
        entries = (
            ((m, i), fields)
            for keys, *columns in decoded
            for (m, i), *fields in zip(keys, *columns, strict=True)
        )
    kept = []
    for key, fields in entries:
        if gone[key]:  # a key's earliest arrivals are the ones that left
            gone[key] -= 1
        else:
            kept.append((key, fields))
    # Expiry took the oldest of the rest (a key that expired may have come again since).
    return dict(kept[dropped:])


def _lz4() -> Any:
    # Imported when first needed: a missing codec package is reported by the startup
    # codec check (monitor/codecs.py), by name.
    import lz4.frame  # noqa: PLC0415

    return lz4.frame


def _in(decision: Decision | None, segment: _Segment) -> bool:
    return decision is not None and segment.start <= decision.seq < segment.end


def _decision(fields: Any) -> Decision:
    """A new decision (not in any segment) from a checkpoint's fields."""
    if isinstance(fields, Decision):
        return Decision(fields.ts, fields.predicted, fields.partition, fields.offset)
    return Decision(*fields[:4])


def _decision_entry(item: list[Any]) -> tuple[Key, Decision]:
    if len(item) == 2:
        (model, event_id), (ts, predicted, partition, offset) = item
    else:  # the earliest checkpoint format: one flat list per decision
        model, event_id, ts, predicted, partition, offset = item
    return (model, event_id), Decision(ts, predicted, partition, offset)


class ExpiredKeys:
    """Keys of decisions that expired unmatched, oldest first, at most ``limit``: a label
    that comes later is counted as expired rather than unknown."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._clear()

    def _clear(self) -> None:
        self._keys: OrderedDict[Key, None] = OrderedDict()
        # (count, LZ4 frame of the msgpack list of keys), oldest first
        self._segments: list[tuple[int, bytes]] = []
        self._dropped = 0  # keys of the first segment dropped since it was encoded
        self._unsealed = 0

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def add(self, key: Key) -> None:
        if key in self._keys:
            return
        self._keys[key] = None
        self._unsealed += 1
        if len(self._keys) > self.limit:
            self._keys.popitem(last=False)
            if self._segments:
                self._dropped += 1
                if self._dropped == self._segments[0][0]:
                    self._segments.pop(0)
                    self._dropped = 0
            else:
                self._unsealed -= 1

    def snapshot(self) -> list[Any]:
        """``[dropped, segment, ...]``: the segments are LZ4 frames of msgpack lists of
        keys, oldest first, and the first ``dropped`` keys of the first one are gone."""
        if self._unsealed:
            keys = list(islice(reversed(self._keys), self._unsealed))
            keys.reverse()
            self._segments.append((len(keys), bytes(_lz4().compress(_encode(keys)))))
            self._unsealed = 0
        return [self._dropped, *(blob for _, blob in self._segments)]

    def restore(self, saved: list[Any]) -> None:
        """From ``snapshot``'s form, or the plain list of keys of earlier versions."""
        self._clear()
        if saved and isinstance(saved[0], int):
            segments = [msgspec.msgpack.decode(_lz4().decompress(blob)) for blob in saved[1:]]
            keys = [key for segment in segments for key in segment][saved[0] :]
        else:
            keys = saved
        for model, event_id in keys:
            self.add((model, event_id))
