"""Checkpoint compression: LZ4 frames now, zlib from earlier versions still readable."""

from __future__ import annotations

import zlib

import lz4.frame
import msgspec

from monitor import checkpoint
from monitor.outputs import OutputRecord


class _Record:
    def __init__(self, record: OutputRecord) -> None:
        self.value = record.value
        self.headers = record.headers


STATE = msgspec.msgpack.encode({"windows": list(range(200_000)), "label": "x" * 1000})


def _store() -> checkpoint.CheckpointStore:
    return checkpoint.CheckpointStore("state", "group", reader=None)


def test_a_checkpoint_is_an_lz4_frame_in_chunks_that_reads_back() -> None:
    records, size = _store().records(3, {"features": 42}, STATE)
    blob = b"".join(r.value or b"" for r in records)
    assert len(records) > 1 and size == len(blob) < len(STATE)
    assert lz4.frame.decompress(blob) == STATE  # the LZ4 library itself reads it
    found = checkpoint.newest_complete([_Record(r) for r in records])
    assert found is not None and found.state == STATE and found.offsets == {"features": 42}


def test_a_zlib_checkpoint_of_an_earlier_version_still_reads() -> None:
    old = zlib.compress(STATE, 1)
    meta = msgspec.json.encode({"id": "old-1", "chunk": 0, "chunks": 1, "offsets": {"f": 7}})
    record = OutputRecord("state", old, b"group/0/0", [(checkpoint.HEADER, meta)])
    found = checkpoint.newest_complete([_Record(record)])
    assert found is not None and found.state == STATE and found.offsets == {"f": 7}
