"""Open Inference Protocol protobuf messages written by hand from the specification.

The tests build their protobuf messages with this small wire-format writer, using the field
numbers of the published ``grpc_predict_v2.proto`` (ModelInferRequest: model_name 1,
model_version 2, id 3, parameters 4, inputs 5, outputs 6, raw_input_contents 7;
ModelInferResponse: ... outputs 5, raw_output_contents 6; tensors: name 1, datatype 2,
shape 3, parameters 4, contents 5; InferTensorContents: bool 1, int 2, int64 3, uint 4,
uint64 5, fp32 6, fp64 7, bytes 8), not with driftd's generated module, so that a wrong
field number in driftd's .proto fails the tests instead of cancelling out.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

CONTENTS = {
    "BOOL": (1, "varint"),
    "INT8": (2, "varint"),
    "INT16": (2, "varint"),
    "INT32": (2, "varint"),
    "INT64": (3, "varint"),
    "UINT8": (4, "varint"),
    "UINT16": (4, "varint"),
    "UINT32": (4, "varint"),
    "UINT64": (5, "varint"),
    "FP32": (6, "<f"),
    "FP64": (7, "<d"),
}
RAW = {
    "BOOL": "<?",
    "INT8": "<b",
    "INT16": "<h",
    "INT32": "<i",
    "INT64": "<q",
    "UINT8": "<B",
    "UINT16": "<H",
    "UINT32": "<I",
    "UINT64": "<Q",
    "FP16": "<e",
    "FP32": "<f",
    "FP64": "<d",
}


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def delimited(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def text(field: int, value: str) -> bytes:
    return delimited(field, value.encode()) if value else b""


def packed(field: int, kind: str, values: Sequence[Any]) -> bytes:
    if kind == "varint":
        payload = b"".join(varint(int(v)) for v in values)
    else:
        payload = struct.pack(f"<{len(values)}{kind[1]}", *values)
    return delimited(field, payload)


def string_parameter(field: int, key: str, value: str) -> bytes:
    """A map<string, InferParameter> entry with string_param (field 3)."""
    return delimited(field, text(1, key) + delimited(2, text(3, value)))


def tensor(name: str, datatype: str, shape: Sequence[int], values: Sequence[Any] | None) -> bytes:
    """InferInputTensor / InferOutputTensor; ``values=None`` leaves contents out (raw)."""
    body = text(1, name) + text(2, datatype) + packed(3, "varint", shape)
    if values is not None:
        if datatype == "BYTES":
            contents = b"".join(delimited(8, v.encode()) for v in values)
        else:
            field, kind = CONTENTS[datatype]
            contents = packed(field, kind, values)
        body += delimited(5, contents)
    return body


def raw(datatype: str, values: Sequence[Any]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)
    return struct.pack(f"{RAW[datatype][0]}{len(values)}{RAW[datatype][1]}", *values)


def infer_request(
    request_id: str,
    tensors: Sequence[tuple[str, str, Sequence[int], Sequence[Any]]],
    use_raw: bool = False,
    model_name: str = "",
    parameters: dict[str, str] | None = None,
) -> bytes:
    body = text(1, model_name) + text(3, request_id)
    for key, value in (parameters or {}).items():
        body += string_parameter(4, key, value)
    for name, datatype, shape, values in tensors:
        body += delimited(5, tensor(name, datatype, shape, None if use_raw else values))
    if use_raw:
        for _, datatype, _, values in tensors:
            body += delimited(7, raw(datatype, values))
    return body


def infer_response(
    request_id: str,
    tensors: Sequence[tuple[str, str, Sequence[int], Sequence[Any]]],
    use_raw: bool = False,
    model_name: str = "",
    model_version: str = "",
) -> bytes:
    body = text(1, model_name) + text(2, model_version) + text(3, request_id)
    for name, datatype, shape, values in tensors:
        body += delimited(5, tensor(name, datatype, shape, None if use_raw else values))
    if use_raw:
        for _, datatype, _, values in tensors:
            body += delimited(6, raw(datatype, values))
    return body
