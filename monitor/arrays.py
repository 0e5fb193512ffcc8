"""Column blocks (aligned numpy arrays) and their compact serialisation for checkpoints."""

from __future__ import annotations

from typing import Any

import numpy as np

Block = dict[str, np.ndarray]

# Meta columns every block carries next to the monitored ones.
TS = "__ts"
PARTITION = "__partition"
OFFSET = "__offset"


def block_len(block: Block) -> int:
    return len(block[TS])


def take(block: Block, index: np.ndarray | slice) -> Block:
    return {name: column[index] for name, column in block.items()}


def concat(blocks: list[Block]) -> Block:
    if len(blocks) == 1:
        return blocks[0]
    return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}


def pack(array: np.ndarray) -> list[Any]:
    array = np.ascontiguousarray(array)
    return [array.dtype.str, array.shape[0], array.tobytes()]


def unpack(packed: list[Any]) -> np.ndarray:
    dtype, length, raw = packed
    return np.frombuffer(raw, dtype=np.dtype(dtype), count=length).copy()


def pack_block(block: Block) -> dict[str, list[Any]]:
    return {name: pack(column) for name, column in block.items()}


def unpack_block(packed: dict[str, list[Any]]) -> Block:
    return {name: unpack(column) for name, column in packed.items()}


def sample_keys(partition: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """A pseudo-random key per record that depends only on where the record is.

    Keeping the rows with the smallest keys is a uniform sample that comes out the same
    whatever the batching, so a replay or a restore reaches the same sample.
    """
    x = offset.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x ^= partition.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
    return x
