"""One model's decisions as columns: the shape every guardrail is evaluated on."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from monitor.categories import MISSING
from monitor.config import ModelConfig
from monitor.event_columns import decoded_batch, versions
from monitor.events import Event, Scalar, categorical_value, event_model
from monitor.fastlane import ColumnBatch, fast_rows, pick

_NO_VALUES: dict[str, Scalar] = {}
_NONE = np.array(None, dtype=object)


@dataclass(frozen=True, slots=True)
class Coded:
    """A categorical column as codes into ``values`` (a category dictionary's values)."""

    codes: np.ndarray
    values: Sequence[str]


@dataclass(frozen=True, slots=True)
class DecisionBatch:
    """Columns of one model's decisions, aligned with the events they came from.

    Numeric columns are float64 with NaN where the value is missing (the decoder rejects
    non-finite numbers, so NaN means missing and nothing else); categorical columns are
    object arrays of ``str`` or ``None``. ``label`` is the *predicted* label
    (``prediction.label``) as a number: booleans count as 1/0, numeric strings are parsed,
    anything else is missing.
    """

    model: str
    size: int
    version: np.ndarray
    numeric: dict[str, np.ndarray]
    categorical: dict[str, np.ndarray]
    score: np.ndarray
    label: np.ndarray
    # Categorical columns also as the model's dictionary codes (``MISSING``, ``OVERFLOW``
    # or an index into the dictionary's values), when the batch came from the fast lane
    # and the caller had them: rules then test each distinct value once.
    codes: Mapping[str, Coded] = field(default_factory=dict)

    @classmethod
    def from_events(
        cls,
        events: Sequence[Event],
        model_config: ModelConfig,
        features: Collection[str] | None = None,
        codes: Mapping[str, Coded] | None = None,
    ) -> DecisionBatch:
        """Columns of ``events`` (all of one model). ``features`` limits the extracted
        feature columns to those the rules use (``Guardrails.features_used``). ``codes``:
        the events' categorical codes (used for fast-lane events only, whose categories
        are strings by construction)."""
        model = events[0].model if events else ""
        one_batch = decoded_batch(events) is not None  # decoded together: one model
        if not one_batch and len(set(map(event_model, events))) > 1:
            raise ValueError("a decision batch holds the decisions of one model")
        fast = fast_rows(events)
        if fast is not None:
            batch = cls._from_columns(model, events, model_config, features, *fast)
            if codes:
                wanted = batch.categorical.keys()
                coded = {name: codes[name] for name in wanted if name in codes}
                batch = dataclasses.replace(batch, codes=coded)
            return batch
        feature_maps = [event.features or _NO_VALUES for event in events]
        prediction_maps = [event.prediction or _NO_VALUES for event in events]
        numeric: dict[str, np.ndarray] = {}
        categorical: dict[str, np.ndarray] = {}
        for name, feature in model_config.features.items():
            if features is not None and name not in features:
                continue
            values = [values.get(name) for values in feature_maps]
            if feature.type == "numeric":
                numeric[name] = _numbers(values)
            else:
                categorical[name] = _categories(values)
        return cls(
            model=model,
            size=len(events),
            version=_objects(versions(events)),
            numeric=numeric,
            categorical=categorical,
            score=_numbers([values.get("score") for values in prediction_maps]),
            label=_numbers([values.get("label") for values in prediction_maps]),
        )

    @classmethod
    def _from_columns(
        cls,
        model: str,
        events: Sequence[Event],
        model_config: ModelConfig,
        features: Collection[str] | None,
        columns: ColumnBatch,
        rows: np.ndarray | slice,
    ) -> DecisionBatch:
        """Fast-lane events: their columns were extracted once by the decoder."""
        numeric: dict[str, np.ndarray] = {}
        categorical: dict[str, np.ndarray] = {}
        for name, feature in model_config.features.items():
            if features is not None and name not in features:
                continue
            if feature.type == "numeric":
                numeric[name] = columns.numeric[name][rows]
            else:
                # The fast lane decoded these as strings or None: no per-value check.
                column = np.empty(len(events), dtype=object)
                column[:] = pick(columns.categorical[name], rows)
                categorical[name] = column
        return cls(
            model=model,
            size=len(events),
            version=_objects(versions(events)),
            numeric=numeric,
            categorical=categorical,
            score=columns.score[rows],
            label=_numbers(pick(columns.label, rows)),
        )

    def missing(self, feature: str) -> np.ndarray:
        """Where ``feature`` has no value."""
        if feature in self.numeric:
            return np.isnan(self.numeric[feature])
        coded = self.codes.get(feature)
        if coded is not None:
            return coded.codes == MISSING
        return is_none(self.categorical[feature])

    def take(self, index: np.ndarray | slice) -> DecisionBatch:
        """The decisions at ``index``, as a batch of their own."""
        version = self.version[index]
        return DecisionBatch(
            model=self.model,
            size=len(version),
            version=version,
            numeric={name: column[index] for name, column in self.numeric.items()},
            categorical={name: column[index] for name, column in self.categorical.items()},
            score=self.score[index],
            label=self.label[index],
            codes={name: Coded(c.codes[index], c.values) for name, c in self.codes.items()},
        )


def is_none(column: np.ndarray) -> np.ndarray:
    """Elementwise ``is None`` of an object column, in C."""
    return np.equal(column, _NONE)


def _objects(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _numbers(values: list[Any]) -> np.ndarray:
    """float64 with NaN for missing; numpy turns None into NaN and bools into 1/0 itself."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        # Only values the decoder would have dead-lettered get here (e.g. "n/a" for a
        # number); they are treated as missing rather than failing the whole batch.
        return np.array([_number_or_nan(value) for value in values], dtype=np.float64)


def _number_or_nan(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _categories(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    if set(map(type, values)) <= {str, type(None)}:
        column[:] = values
    else:
        # Joined or replayed events may still carry numbers or booleans for a category.
        column[:] = [_category(value) for value in values]
    return column


def _category(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # decoded JSON numbers are floats; an int comes from Python code
    if value is None or isinstance(value, str | float | bool):
        return categorical_value(value)
    return None  # not a scalar: the decoder rejects these, here it counts as missing
