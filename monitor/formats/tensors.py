"""Open Inference Protocol tensors: datatypes, raw contents, and cutting a batch into rows.

A tensor's first dimension is the batch: a tensor of shape ``[N, ...]`` holds N rows. Its
data arrive flat in row-major order (JSON ``data``, protobuf typed ``contents``, or raw
little-endian bytes), and every check that can reject a message — a datatype the protocol
does not define, a shape whose product is not the data length, raw bytes that are not a
whole number of elements — raises :class:`FormatError` with the reason the dead-letter
topic gets.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.events import Reasons

# Fixed-size datatypes of the protocol and their little-endian numpy layouts.
FIXED_DTYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = frozenset(FIXED_DTYPES) | {"BYTES"}
FLOATS = frozenset({"FP16", "FP32", "FP64"})
MAX_DIMENSIONS = 8


class FormatError(Exception):
    """A message that cannot be read: ``reason`` is one of :class:`Reasons`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Tensor:
    """A tensor with its values flat, as Python scalars (float/int, bool or str)."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        """Elements per row: the product of the dimensions after the batch."""
        return math.prod(self.shape[1:])


def check_header(name: Any, datatype: Any, shape: Any) -> tuple[str, str, list[int]]:
    """Validate a tensor's name, datatype and shape (before its data are looked at)."""
    if not isinstance(name, str) or not name:
        raise FormatError(Reasons.SCHEMA, "a tensor needs a non-empty 'name'")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise FormatError(
            Reasons.UNKNOWN_DATATYPE, f"tensor {name!r}: datatype {str(datatype)[:32]!r} is unknown"
        )
    if (
        not isinstance(shape, list | tuple)
        or not 1 <= len(shape) <= MAX_DIMENSIONS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"tensor {name!r}: shape must be 1 to {MAX_DIMENSIONS} non-negative sizes, "
            "the first being the batch",
        )
    return name, datatype, list(shape)


def from_values(name: str, datatype: str, shape: list[int], values: Sequence[Any]) -> Tensor:
    expected = math.prod(shape)
    if len(values) != expected:
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"tensor {name!r}: shape {shape} holds {expected} elements, data has {len(values)}",
        )
    return Tensor(name, datatype, shape, list(values))


def from_json_data(name: str, datatype: str, shape: list[int], data: Any) -> Tensor:
    """JSON ``data`` is flat or nested in the tensor's shape; its elements must fit the type."""
    flat = _flatten(name, data)
    if datatype == "BYTES":
        wanted: tuple[type, ...] = (str,)
    elif datatype == "BOOL":
        wanted = (bool,)
    else:
        wanted = (int, float)
    for value in flat:
        if not isinstance(value, wanted) or (datatype != "BOOL" and isinstance(value, bool)):
            raise FormatError(
                Reasons.WRONG_TYPE,
                f"tensor {name!r}: {datatype} data holds a {type(value).__name__}",
            )
    if datatype in FLOATS or datatype not in {"BYTES", "BOOL"}:
        _check_finite(name, flat)
    return from_values(name, datatype, shape, flat)


def from_raw(name: str, datatype: str, shape: list[int], raw: bytes) -> Tensor:
    """Raw contents: little-endian elements without padding; BYTES as length + bytes."""
    expected = math.prod(shape)
    if datatype == "BYTES":
        return from_values(name, datatype, shape, _split_bytes(name, raw, expected))
    dtype = np.dtype(FIXED_DTYPES[datatype])
    if len(raw) % dtype.itemsize:
        raise FormatError(
            Reasons.TRUNCATED_TENSOR,
            f"tensor {name!r}: {len(raw)} raw bytes are not a whole number of "
            f"{dtype.itemsize}-byte {datatype} elements",
        )
    needed = expected * dtype.itemsize
    if len(raw) != needed:
        raise FormatError(
            Reasons.TRUNCATED_TENSOR if len(raw) < needed else Reasons.SHAPE_MISMATCH,
            f"tensor {name!r}: shape {shape} needs {needed} raw bytes, got {len(raw)}",
        )
    array = np.frombuffer(raw, dtype=dtype)
    if datatype in FLOATS:
        array = array.astype(np.float64)
        if not np.isfinite(array).all():
            raise FormatError(Reasons.NON_FINITE, f"tensor {name!r} holds NaN or infinity")
    return Tensor(name, datatype, shape, array.tolist())


def from_contents(name: str, datatype: str, shape: list[int], values: Sequence[Any]) -> Tensor:
    """Typed protobuf contents, already in Python scalars; BYTES elements are bytes."""
    if datatype == "BYTES":
        values = [_text(name, v) for v in values]
    elif datatype in FLOATS:
        _check_finite(name, values)
    return from_values(name, datatype, shape, values)


def column_values(tensor: Tensor) -> list[Any]:
    """One scalar per row: the tensor must be ``[N]`` or ``[N, 1, ...]``."""
    if tensor.width != 1:
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"tensor {tensor.name!r}: shape {tensor.shape} has {tensor.width} values per row, "
            "one is expected",
        )
    return tensor.values


def matrix_rows(tensor: Tensor) -> list[list[Any]]:
    """The rows of an ``[N, F]`` tensor."""
    if len(tensor.shape) != 2:
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"tensor {tensor.name!r}: shape {tensor.shape} is not [rows, columns]",
        )
    width = tensor.shape[1]
    values = tensor.values
    return [values[i * width : (i + 1) * width] for i in range(tensor.shape[0])]


def same_batch(tensors: Sequence[Tensor]) -> int:
    """The batch size every tensor agrees on."""
    sizes = {t.rows for t in tensors}
    if len(sizes) != 1:
        listed = ", ".join(f"{t.name}={t.rows}" for t in tensors[:8])
        raise FormatError(Reasons.SHAPE_MISMATCH, f"tensors disagree on the batch size: {listed}")
    return sizes.pop()


def _flatten(name: str, data: Any) -> list[Any]:
    if not isinstance(data, list):
        if data is None:
            raise FormatError(Reasons.SCHEMA, f"tensor {name!r} has no 'data'")
        return [data]
    if not data or not isinstance(data[0], list):
        if any(isinstance(v, list) for v in data):
            raise FormatError(Reasons.SHAPE_MISMATCH, f"tensor {name!r}: data is ragged")
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(name, item) if isinstance(item, list) else [item])
    return flat


def _check_finite(name: str, values: Sequence[Any]) -> None:
    for value in values:
        if isinstance(value, float) and not math.isfinite(value):
            raise FormatError(Reasons.NON_FINITE, f"tensor {name!r} holds NaN or infinity")


_LENGTH = struct.Struct("<I")


def _split_bytes(name: str, raw: bytes, expected: int) -> list[str]:
    items: list[str] = []
    position, end = 0, len(raw)
    while position < end:
        if position + 4 > end:
            raise FormatError(
                Reasons.TRUNCATED_TENSOR,
                f"tensor {name!r}: BYTES element {len(items)} has a cut length prefix",
            )
        (length,) = _LENGTH.unpack_from(raw, position)
        position += 4
        if position + length > end:
            raise FormatError(
                Reasons.TRUNCATED_TENSOR,
                f"tensor {name!r}: BYTES element {len(items)} claims {length} bytes, "
                f"{end - position} remain",
            )
        items.append(_text(name, raw[position : position + length]))
        position += length
        if len(items) > expected:
            break
    return items


def _text(name: str, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(
            Reasons.INVALID_UTF8, f"tensor {name!r}: a BYTES element is not UTF-8 text"
        ) from None
