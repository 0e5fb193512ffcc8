"""KServe V1 bodies: ``{"instances": [...]}`` requests and ``{"predictions": [...]}`` responses.

An instance is an object (feature by name), a list (columns named by the format's
``columns``, default the model's features in order) or a single value (one column). A
prediction is a number (the score; the label when only ``outputs.label`` is set), a string
(the label), a list (class probabilities: ``outputs.score_column`` picks the score) or an
object (``outputs.score`` / ``outputs.label`` name its keys, default ``score`` / ``label``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitor.config_formats import FormatConfig
from monitor.events import Reasons
from monitor.formats.tensors import FormatError

Row = dict[str, Any]


def is_v1(body: Any) -> bool:
    return isinstance(body, dict) and ("instances" in body or "predictions" in body)


def instance_rows(body: dict[str, Any], fmt: FormatConfig, features: Sequence[str]) -> list[Row]:
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise FormatError(Reasons.MISSING_TENSOR, "'instances' must be a non-empty list")
    columns = list(fmt.columns) if fmt.columns is not None else list(features)
    rows = []
    for index, instance in enumerate(instances):
        if isinstance(instance, dict):
            row = instance
        else:
            values = instance if isinstance(instance, list) else [instance]
            if len(values) != len(columns):
                raise FormatError(
                    Reasons.SHAPE_MISMATCH,
                    f"instance {index} has {len(values)} values, the format names "
                    f"{len(columns)} columns",
                )
            row = dict(zip(columns, values, strict=True))
        for name, value in row.items():
            if isinstance(value, dict | list):
                raise FormatError(Reasons.SCHEMA, f"instance {index}: {name!r} is not a scalar")
            if isinstance(value, float) and not math.isfinite(value):
                raise FormatError(Reasons.NON_FINITE, f"instance {index}: {name!r} is not finite")
        rows.append(row)
    return rows


def prediction_rows(body: dict[str, Any], fmt: FormatConfig) -> list[Row]:
    predictions = body.get("predictions")
    if not isinstance(predictions, list) or not predictions:
        raise FormatError(Reasons.MISSING_TENSOR, "'predictions' must be a non-empty list")
    outputs = fmt.outputs
    rows: list[Row] = []
    for index, item in enumerate(predictions):
        if isinstance(item, dict):
            row = {}
            for role, key in (
                ("score", outputs.score or "score"),
                ("label", outputs.label or "label"),
            ):
                if key in item:
                    row[role] = item[key]
            if isinstance(row.get("score"), list):
                row["score"] = _pick(row["score"], index, outputs.score_column)
            if not row:
                raise FormatError(
                    Reasons.MISSING_TENSOR, f"prediction {index} has no score or label key"
                )
        elif isinstance(item, list):
            row = {"score": _pick(item, index, outputs.score_column)}
        elif isinstance(item, str) or (outputs.label is not None and outputs.score is None):
            row = {"label": item}
        else:
            row = {"score": item}
        score = row.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise FormatError(Reasons.WRONG_TYPE, f"prediction {index}: the score is not a number")
        rows.append(row)
    return rows


def _pick(scores: list[Any], index: int, column: int | None) -> Any:
    """Class probabilities: the configured column is the score."""
    if column is None or column >= len(scores):
        raise FormatError(
            Reasons.SHAPE_MISMATCH,
            f"prediction {index} is a list of {len(scores)}: set outputs.score_column",
        )
    return scores[column]
