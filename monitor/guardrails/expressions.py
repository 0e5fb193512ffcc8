"""Expression rules: polars SQL expressions evaluated over a whole batch at once.

An expression is parsed by ``polars.sql_expr`` (a SQL parser, never Python ``eval``) into
a polars expression and evaluated over a DataFrame of the batch with the columns
``features`` (a struct of the declared features), ``prediction`` (a struct of ``score``
and ``label``), ``model`` and ``version``. SQL NULL is a missing value; a decision for
which the expression is NULL does not match.

Polars raises for a whole batch when one value fails (a strict CAST of "n/a", say); the
failing decisions are then isolated (:mod:`monitor.guardrails.fallback`), so only they get
an error hit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from monitor.config import FeatureConfig
from monitor.guardrails.batch import DecisionBatch
from monitor.guardrails.fallback import FAILURES, describe, isolate_failures
from monitor.guardrails.results import GuardrailError

# Nodes of a serialised polars expression whose result depends on other rows: an
# expression must judge each decision on its own, or its result would depend on how the
# stream happens to be cut into batches.
_ROW_DEPENDENT = frozenset(
    {
        "Agg", "Len", "Window", "Over", "Range", "IntRange", "Slice", "Filter", "Gather",
        "Sort", "SortBy", "Explode", "Implode", "Shift", "Diff", "Rank", "Unique",
        "Reverse", "Rolling", "RollingExpr", "CumSum", "CumProd", "CumMin", "CumMax",
        "CumCount", "FillNullWithStrategy", "Forward", "Backward", "Head", "Tail",
    }
)  # fmt: skip

_COLUMNS = ("features", "prediction", "model", "version")
_PREDICTION_FIELDS = ("score", "label")
_NAMES_HINT = "use features.NAME, prediction.score, prediction.label, model, version"


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    name: str
    action: str
    text: str
    expr: pl.Expr
    # Declared features the expression reads: only these are put into the frame.
    features: frozenset[str]
    kind: str = "expression"

    def reason(self, batch: DecisionBatch, index: int) -> str:
        return f"matched {self.text[:200]}"


@dataclass(frozen=True, slots=True)
class ExpressionOutcome:
    matched: np.ndarray
    # Batch index -> why the expression could not be evaluated for that decision.
    errors: dict[int, str]


def frame_schema(features: Mapping[str, FeatureConfig]) -> dict[str, pl.DataType]:
    feature_types = {
        name: pl.Float64() if feature.type == "numeric" else pl.String()
        for name, feature in features.items()
    }
    return {
        "features": pl.Struct(feature_types),
        "prediction": pl.Struct({"score": pl.Float64(), "label": pl.Float64()}),
        "model": pl.String(),
        "version": pl.String(),
    }


def compile_expression(
    rule: str, action: str, text: str, index: int, features: Mapping[str, FeatureConfig]
) -> CompiledExpression:
    """Parse and type-check ``text``; raise :class:`GuardrailError` naming ``rule``."""

    def fail(problem: str) -> GuardrailError:
        return GuardrailError(f"guardrail {rule!r}: {problem} in expression {text!r}")

    try:
        expr = pl.sql_expr(text)
    except FAILURES as exc:
        raise fail(f"malformed expression ({describe(exc)})") from None
    tree = _Tree(expr)
    row_dependent = sorted(tree.nodes & _ROW_DEPENDENT)
    if row_dependent:
        raise fail(
            "aggregate, window or ordering functions are not allowed (each decision is "
            f"judged on its own; found {', '.join(row_dependent)})"
        )
    unknown_names = sorted(tree.columns - set(_COLUMNS))
    if unknown_names:
        raise fail(f"unknown name {unknown_names[0]!r} ({_NAMES_HINT})")
    unknown_fields = sorted(tree.fields - set(features) - set(_PREDICTION_FIELDS))
    if unknown_fields:
        declared = ", ".join(sorted(features))
        raise fail(f"unknown feature {unknown_fields[0]!r} (declared: {declared})")
    try:
        output = pl.LazyFrame(schema=frame_schema(features)).select(expr).collect_schema()
    except FAILURES as exc:
        raise fail(_explain(exc, features)) from None
    dtype = next(iter(output.values()))
    if dtype != pl.Boolean:
        raise fail(f"the result must be true/false, not {dtype}")
    read = frozenset(tree.fields & set(features))
    if "features" in tree.columns and not read:
        read = frozenset(features)  # the struct as a whole, e.g. `features IS NULL`
    compiled = CompiledExpression(rule, action, text, expr.alias(f"rule{index}"), read)
    _check_on_sample_rows(compiled, {name: features[name] for name in read}, fail)
    return compiled


def decision_frame(batch: DecisionBatch, features: frozenset[str]) -> pl.DataFrame:
    """The batch as the DataFrame expressions are evaluated on (only ``features`` in it)."""
    columns: dict[str, Any] = {
        "prediction": pl.DataFrame(
            [
                pl.Series("score", batch.score, nan_to_null=True),
                pl.Series("label", batch.label, nan_to_null=True),
            ]
        ).to_struct("prediction"),
        "model": pl.repeat(batch.model, batch.size, dtype=pl.String, eager=True),
        # Object arrays go in as lists: polars cannot cast an object array that starts
        # with None to strings.
        "version": pl.Series("version", batch.version.tolist(), pl.String),
    }
    feature_columns = [
        pl.Series(name, batch.numeric[name], nan_to_null=True)
        if name in batch.numeric
        else pl.Series(name, batch.categorical[name].tolist(), pl.String)
        for name in sorted(features)
    ]
    if feature_columns:
        columns["features"] = pl.DataFrame(feature_columns).to_struct("features")
    return pl.DataFrame(columns)


def evaluate_expressions(
    expressions: Sequence[CompiledExpression], frame: pl.DataFrame
) -> list[ExpressionOutcome]:
    """Every expression over the whole frame in one polars call; on failure each one on
    its own, and a failing one on ever smaller slices (:func:`isolate_failures`)."""
    try:
        result = frame.select([expression.expr for expression in expressions])
        return [ExpressionOutcome(_matches(column, frame.height), {}) for column in result]
    except FAILURES:
        pass
    outcomes = []
    for expression in expressions:

        def evaluate(
            start: int, stop: int, expression: CompiledExpression = expression
        ) -> np.ndarray:
            return evaluate_one(expression, frame.slice(start, stop - start))

        outcomes.append(ExpressionOutcome(*isolate_failures(frame.height, evaluate)))
    return outcomes


def evaluate_one(expression: CompiledExpression, frame: pl.DataFrame) -> np.ndarray:
    """The decisions of ``frame`` the expression matches; raises when it fails."""
    return _matches(frame.select(expression.expr).to_series(), frame.height)


def _matches(column: pl.Series, rows: int) -> np.ndarray:
    if len(column) != rows:
        raise ValueError(f"the expression gave {len(column)} values for {rows} decisions")
    return column.fill_null(False).to_numpy().astype(bool, copy=False)


def _check_on_sample_rows(
    compiled: CompiledExpression, features: Mapping[str, FeatureConfig], fail: Any
) -> None:
    """Run the expression on two made-up decisions: errors that do not depend on the data
    (comparing a string with a number) surface now, and a result for the pair that differs
    from the results for each alone gives away a dependence on other rows."""
    frame = _sample_frame(features)
    try:
        together = _matches(frame.select(compiled.expr).to_series(), 2)
    except FAILURES as exc:
        if _fails_without_data(compiled, features):
            raise fail(_explain(exc, features)) from None
        return  # it fails on the made-up values only, which proves nothing
    try:
        alone = np.concatenate(
            [_matches(frame.slice(i, 1).select(compiled.expr).to_series(), 1) for i in (0, 1)]
        )
    except FAILURES:
        return
    if not np.array_equal(together, alone):
        raise fail("the result depends on other decisions (aggregate or window)")


def _fails_without_data(
    compiled: CompiledExpression, features: Mapping[str, FeatureConfig]
) -> bool:
    nulls = pl.DataFrame(
        [pl.Series(name, [None], dtype) for name, dtype in frame_schema(features).items()]
    )
    try:
        nulls.select(compiled.expr)
    except FAILURES:
        return True
    return False


def _sample_frame(features: Mapping[str, FeatureConfig]) -> pl.DataFrame:
    rows = [
        {name: number if feature.type == "numeric" else text for name, feature in features.items()}
        for number, text in ((1.0, "a"), (2.0, "b"))
    ]
    return pl.DataFrame(
        {
            "features": rows,
            "prediction": [{"score": 0.25, "label": 0.0}, {"score": 0.75, "label": 1.0}],
            "model": ["m", "m"],
            "version": ["1", "2"],
        },
        schema=frame_schema(features),
    )


def _explain(exc: BaseException, features: Mapping[str, FeatureConfig]) -> str:
    message = describe(exc)
    if isinstance(exc, pl.exceptions.StructFieldNotFoundError):
        declared = ", ".join(sorted(features))
        return f"unknown field {message!r} (declared features: {declared}; {_NAMES_HINT})"
    if isinstance(exc, pl.exceptions.ColumnNotFoundError):
        return f"unknown name ({message}; {_NAMES_HINT})"
    return message


class _Tree:
    """What a parsed expression is made of, from its serialised tree: the names of its
    nodes (keys, and strings standing for a node such as ``"Len"``), the columns and the
    struct fields it reads. Literals are skipped: they are the user's words, not nodes."""

    def __init__(self, expr: pl.Expr) -> None:
        self.nodes: set[str] = set()
        self.columns: set[str] = set()
        self.fields: set[str] = set()
        stack: list[Any] = [json.loads(expr.meta.serialize(format="json"))]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    self.nodes.add(key)
                    if key == "Column" and isinstance(value, str):
                        self.columns.add(value)
                    elif key == "FieldByName" and isinstance(value, str):
                        self.fields.add(value)
                    elif key != "Literal":
                        stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str):
                self.nodes.add(node)
