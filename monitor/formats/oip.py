"""Open Inference Protocol v2 messages (JSON and protobuf) and their rows.

A request's inputs are the features half of an event, a response's outputs its prediction
half; both are joined by the pipeline on ``(model, id)``. A request of N rows becomes N
events with ids ``<request id>/<row>`` (a single row keeps the request id), and the
response's rows pair with them by the same index.

Two tabular layouts are read: one ``[N, F]`` input tensor whose column names come from the
format's ``columns`` (default: the model's features in configured order), and one input per
column (``parameters.content_type == "pd"``, or several inputs), named by the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from google.protobuf.message import DecodeError

from monitor.config_formats import FormatConfig
from monitor.events import Reasons
from monitor.formats import open_inference_grpc_pb2 as pb
from monitor.formats.tensors import (
    FormatError,
    Tensor,
    check_header,
    column_values,
    from_contents,
    from_json_data,
    from_raw,
    matrix_rows,
    same_batch,
)

Kind = Literal["request", "response"]
Row = dict[str, Any]

# Which typed field of InferTensorContents holds each datatype (FP16 travels raw only).
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


@dataclass(slots=True)
class InferMessage:
    kind: Kind
    id: str | None
    model: str | None
    version: str | None
    tensors: list[Tensor]
    parameters: dict[str, Any] = field(default_factory=dict)


def is_json(value: bytes) -> bool:
    """Protobuf messages here never start with ``{`` (it would be a deprecated group tag)."""
    return value.lstrip()[:1] == b"{"


def decode_json(value: bytes) -> Any:
    try:
        return msgspec.json.decode(value)
    except msgspec.ValidationError as exc:  # numbers beyond float range
        raise FormatError(Reasons.NON_FINITE, str(exc)[:300]) from None
    except UnicodeDecodeError as exc:
        raise FormatError(Reasons.INVALID_UTF8, str(exc.reason)) from None
    except msgspec.DecodeError as exc:
        raise FormatError(Reasons.INVALID_JSON, str(exc)[:300]) from None
    except RecursionError:
        raise FormatError(Reasons.INVALID_JSON, "JSON nested too deeply") from None


def from_json_body(body: Any) -> InferMessage:
    """A V2 JSON request (``inputs``) or response (``outputs`` with data)."""
    if not isinstance(body, dict):
        raise FormatError(Reasons.SCHEMA, "an inference message is a JSON object")
    if "inputs" in body:
        kind: Kind = "request"
        items = body["inputs"]
    elif "outputs" in body:
        kind = "response"
        items = body["outputs"]
    else:
        raise FormatError(Reasons.SCHEMA, "an inference message needs 'inputs' or 'outputs'")
    if not isinstance(items, list):
        raise FormatError(Reasons.SCHEMA, f"'{kind[:-1]}s' must be a list of tensors")
    tensors = []
    for item in items:
        if not isinstance(item, dict):
            raise FormatError(Reasons.SCHEMA, "a tensor is a JSON object")
        name, datatype, shape = check_header(
            item.get("name"), item.get("datatype"), item.get("shape")
        )
        tensors.append(from_json_data(name, datatype, shape, item.get("data")))
    parameters = body.get("parameters")
    return InferMessage(
        kind,
        _text_field(body, "id"),
        _text_field(body, "model_name"),
        _text_field(body, "model_version"),
        tensors,
        parameters if isinstance(parameters, dict) else {},
    )


def from_protobuf(value: bytes, kind: Kind) -> InferMessage:
    """A ``ModelInferRequest`` or ``ModelInferResponse``; the two look alike on the wire,
    so which one it is comes from where the message was found."""
    message: Any
    try:
        if kind == "request":
            message = pb.ModelInferRequest.FromString(value)
            items, raw = message.inputs, message.raw_input_contents
        else:
            message = pb.ModelInferResponse.FromString(value)
            items, raw = message.outputs, message.raw_output_contents
    except DecodeError as exc:
        raise FormatError(Reasons.INVALID_PROTOBUF, f"not a Model Infer {kind}: {exc}") from None
    if raw and len(raw) != len(items):
        raise FormatError(
            Reasons.TRUNCATED_TENSOR, f"{len(raw)} raw contents for {len(items)} tensors"
        )
    tensors = []
    for index, item in enumerate(items):
        name, datatype, shape = check_header(item.name, item.datatype, list(item.shape))
        if raw:
            tensors.append(from_raw(name, datatype, shape, raw[index]))
            continue
        field_name = CONTENTS_FIELD.get(datatype)
        if field_name is None:
            raise FormatError(
                Reasons.SCHEMA, f"tensor {name!r}: {datatype} travels as raw contents only"
            )
        tensors.append(
            from_contents(name, datatype, shape, list(getattr(item.contents, field_name)))
        )
    return InferMessage(
        kind,
        message.id or None,
        message.model_name or None,
        message.model_version or None,
        tensors,
        {key: _parameter(p) for key, p in message.parameters.items()},
    )


def row_ids(request_id: str, rows: int) -> list[str]:
    """Event ids of a batch: the request id for one row, ``<id>/<row>`` for several."""
    if rows == 1:
        return [request_id]
    return [f"{request_id}/{index}" for index in range(rows)]


def feature_rows(
    message: InferMessage, fmt: FormatConfig, model_features: Sequence[str]
) -> list[Row]:
    tensors = message.tensors
    if not tensors:
        raise FormatError(Reasons.MISSING_TENSOR, "the request has no input tensors")
    rows = same_batch(tensors)
    per_column = message.parameters.get("content_type") == "pd" or len(tensors) > 1
    single = tensors[0]
    if (
        not per_column
        and len(single.shape) == 2
        and (single.shape[1] > 1 or fmt.columns is not None)
    ):
        columns = fmt.columns if fmt.columns is not None else list(model_features)
        if len(columns) != single.shape[1]:
            raise FormatError(
                Reasons.SHAPE_MISMATCH,
                f"tensor {single.name!r} has {single.shape[1]} columns, "
                f"the format names {len(columns)}",
            )
        return [dict(zip(columns, row, strict=True)) for row in matrix_rows(single)]
    columns_values = {t.name: column_values(t) for t in tensors}
    return [{name: values[i] for name, values in columns_values.items()} for i in range(rows)]


def prediction_rows(message: InferMessage, fmt: FormatConfig) -> list[Row]:
    by_name = {t.name: t for t in message.tensors}
    score_name, label_name = fmt.outputs.score, fmt.outputs.label
    if score_name is None and label_name is None:
        if len(message.tensors) != 1:
            names = ", ".join(list(by_name)[:8]) or "none"
            raise FormatError(
                Reasons.MISSING_TENSOR,
                f"the response has outputs {names}: set outputs.score and/or outputs.label",
            )
        score_name = message.tensors[0].name
    used = {}
    for role, name in (("score", score_name), ("label", label_name)):
        if name is None:
            continue
        tensor = by_name.get(name)
        if tensor is None:
            raise FormatError(Reasons.MISSING_TENSOR, f"the response has no {role} output {name!r}")
        used[role] = tensor
    rows = same_batch(list(used.values()))
    predictions: list[Row] = [{} for _ in range(rows)]
    if "score" in used:
        for row, value in zip(predictions, _scores(used["score"], fmt), strict=True):
            row["score"] = value
    if "label" in used:
        for row, value in zip(predictions, column_values(used["label"]), strict=True):
            row["label"] = value
    return predictions


def _scores(tensor: Tensor, fmt: FormatConfig) -> list[Any]:
    if tensor.datatype in {"BYTES", "BOOL"}:
        raise FormatError(
            Reasons.WRONG_TYPE, f"score output {tensor.name!r} is {tensor.datatype}, not numeric"
        )
    column = fmt.outputs.score_column
    if tensor.width == 1 or column is None:
        return column_values(tensor)
    if len(tensor.shape) != 2 or column >= tensor.shape[1]:
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"score output {tensor.name!r} of shape {tensor.shape} has no column {column}",
        )
    return [row[column] for row in matrix_rows(tensor)]


def _text_field(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise FormatError(Reasons.SCHEMA, f"{key!r} must be a string")
    return value


def _parameter(parameter: Any) -> Any:
    which = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, which) if which else None
