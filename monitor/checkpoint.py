"""Task state checkpoints on a Kafka topic, written together with their source offsets.

Partition *p* of the state topic belongs to task *p* (the input partitions numbered *p*).
A checkpoint is one or more chunk records there; each carries a ``driftd-checkpoint``
header ``{"id", "chunk", "chunks"}``, and the last one also the input offsets the state
corresponds to. Because state and offsets travel in one write, a restore is always
consistent: the new owner of the task loads the state and seeks to exactly those offsets.
The group's committed offsets are written after the checkpoint (for lag tools and for a
first start), never before. Since only the task's owner writes its state partition, the
newest complete checkpoint is always among the last records, so a restore reads a few
records whatever the topic's length; on real Kafka the topic should be compacted
(keys are ``<group>/<task>/<chunk>``).
"""

from __future__ import annotations

import itertools
import time
import zlib
from dataclasses import dataclass
from typing import Any

import msgspec
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from monitor.errors import KafkaIOError
from monitor.outputs import OutputRecord

HEADER = "driftd-checkpoint"
CHUNK_BYTES = 512 * 1024
# State is compressed with LZ4 (a frame, recognised by its magic number): on the benchmark's
# 5 MB task state it took 9 ms where zlib's fastest level took 65 ms, in the main loop,
# once a second. Checkpoints written with zlib by earlier versions are still read.
_LZ4_MAGIC = b"\x04\x22\x4d\x18"


class _Meta(msgspec.Struct):
    id: str
    chunk: int
    chunks: int
    offsets: dict[str, int] | None = None


@dataclass(slots=True)
class Checkpoint:
    id: str
    offsets: dict[str, int]  # input topic -> next offset to read, for this task's partition
    state: bytes


def usable(checkpoint: Checkpoint | None, committed: dict[str, int | None]) -> bool:
    """A checkpoint is restored unless it is behind the group's committed offsets (which a
    correct run never produces: a commit always follows its checkpoint)."""
    return checkpoint is not None and all(
        offset is None or checkpoint.offsets.get(topic, 0) >= offset
        for topic, offset in committed.items()
    )


class CheckpointStore:
    def __init__(self, topic: str, group_id: str, reader: KafkaConsumer) -> None:
        self.topic = topic
        self.group_id = group_id
        self.reader = reader
        self._sequence = itertools.count()
        self._prefix = f"{int(time.time() * 1000):x}"

    def records(
        self, task: int, offsets: dict[str, int], state: bytes
    ) -> tuple[list[OutputRecord], int]:
        """The records of one checkpoint (for partition ``task``), and its compressed size."""
        blob = _lz4().compress(state)
        chunks = [blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES)] or [b""]
        ident = f"{self._prefix}-{next(self._sequence)}"
        records = []
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            meta = _Meta(ident, index, len(chunks), offsets if last else None)
            key = f"{self.group_id}/{task}/{index}".encode()
            records.append(
                OutputRecord(self.topic, chunk, key, [(HEADER, msgspec.json.encode(meta))])
            )
        return records, len(blob)

    def read(self, task: int, timeout_s: float = 30.0) -> Checkpoint | None:
        """The newest complete checkpoint of ``task``, or ``None`` if it has none."""
        tp = TopicPartition(self.topic, task)
        try:
            self.reader.assign([tp])
            begin = self.reader.beginning_offsets([tp], timeout_ms=int(timeout_s * 1000))[tp]
            end = self.reader.end_offsets([tp], timeout_ms=int(timeout_s * 1000))[tp]
            span = 16
            while True:
                start = max(begin, end - span)
                found = self._newest_complete(tp, start, end, timeout_s)
                if found is not None or start == begin:
                    return found
                span *= 4
        except KafkaError as exc:
            raise KafkaIOError(f"cannot read checkpoint of task {task}: {exc}") from exc

    def _newest_complete(
        self, tp: TopicPartition, start: int, end: int, timeout_s: float
    ) -> Checkpoint | None:
        if start >= end:
            return None
        self.reader.seek(tp, start)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        # Read to the end offset and then until a poll comes back empty: some
        # Kafka-compatible brokers report the end of a partition at the start of its last
        # record batch, and the newest checkpoint must never be missed.
        while True:
            if time.monotonic() > deadline:
                raise KafkaIOError(f"timed out reading checkpoints from {tp.topic}[{tp.partition}]")
            polled = self.reader.poll(timeout_ms=200)
            for batch in polled.values():
                records.extend(batch)
            if not polled and self.reader.position(tp) >= end:
                break
        return newest_complete(records)


def newest_complete(records: list[Any]) -> Checkpoint | None:
    """The newest checkpoint whose chunks are all among ``records`` (in offset order)."""
    chunks: dict[str, dict[int, bytes]] = {}
    for record in records:
        meta = _meta_of(record.headers)
        if meta is None:
            continue
        chunks.setdefault(meta.id, {})[meta.chunk] = record.value or b""
    for record in reversed(records):
        meta = _meta_of(record.headers)
        if meta is None or meta.offsets is None:
            continue
        parts = chunks.get(meta.id, {})
        if all(i in parts for i in range(meta.chunks)):
            blob = b"".join(parts[i] for i in range(meta.chunks))
            return Checkpoint(meta.id, dict(meta.offsets), _decompress(blob))
        return None  # its first chunks lie before ``start``: read further back
    return None


def _lz4() -> Any:
    # Imported when first needed, not with this module: a missing codec package must be
    # reported by the startup codec check (monitor/codecs.py), naming the package.
    import lz4.frame  # noqa: PLC0415

    return lz4.frame


def _decompress(blob: bytes) -> bytes:
    if blob.startswith(_LZ4_MAGIC):
        return bytes(_lz4().decompress(blob))
    return zlib.decompress(blob)


def _meta_of(headers: object) -> _Meta | None:
    for key, value in headers or []:  # type: ignore[attr-defined]
        if key == HEADER and value:
            try:
                return msgspec.json.decode(value, type=_Meta)
            except msgspec.DecodeError:
                return None
    return None
