"""Building a reference profile from training data, chunk by chunk (see ``profile.py``
for the file format and the statistics it holds)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from detectors.psi import PSITest
from monitor.errors import ProfileError
from monitor.events import categorical_value
from monitor.profile import (
    _LEVELS,
    BLOCK_ROWS,
    MAX_DISTINCT_VALUES,
    QUANTILES,
    CategoricalProfile,
    FeatureProfile,
    FloatArray,
    Kind,
    NumericProfile,
    Profile,
    ProfileSettings,
    ProfileSource,
)


def category_of(value: Any) -> str | None:
    """The daemon's spelling of a categorical value; None (and NaN) is missing."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        return categorical_value(number) if math.isfinite(number) else None
    raise TypeError(f"{value!r} is not a category")


class _NumericColumn:
    def __init__(self, sample_size: int) -> None:
        self.sample_size = sample_size
        self.count = self.missing = 0
        self.mean = self.m2 = 0.0
        self.low, self.high = math.inf, -math.inf
        self.keys, self.sample = np.empty(0), np.empty(0)
        self.pending: list[FloatArray] = []

    def add(self, values: FloatArray, keys: FloatArray) -> None:
        finite = np.isfinite(values)
        self.missing += int(values.size - np.count_nonzero(finite))
        keys, kept = keys[finite], values[finite]
        if kept.size:
            self.low, self.high = min(self.low, kept.min()), max(self.high, kept.max())
        if self.keys.size == self.sample_size:  # only keys below the largest kept one get in
            below = keys < self.keys.max()
            keys, kept = keys[below], kept[below]
        self.keys = np.concatenate([self.keys, keys])
        self.sample = np.concatenate([self.sample, kept])
        if self.keys.size > self.sample_size:
            smallest = np.argpartition(self.keys, self.sample_size - 1)[: self.sample_size]
            self.keys, self.sample = self.keys[smallest], self.sample[smallest]
        self.pending.append(values)
        self.flush(only_full_blocks=True)

    def flush(self, only_full_blocks: bool) -> None:
        """Merge moments by fixed blocks of rows: the result must not depend on the chunking."""
        data = np.concatenate(self.pending) if self.pending else np.empty(0)
        end = data.size - data.size % BLOCK_ROWS if only_full_blocks else data.size
        for start in range(0, end, BLOCK_ROWS):
            self._merge_block(data[start : start + BLOCK_ROWS])
        self.pending = [data[end:]] if end < data.size else []

    def _merge_block(self, block: FloatArray) -> None:
        block = block[np.isfinite(block)]
        if not block.size:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            mean = float(np.mean(block))
            m2 = float(np.sum(np.square(block - mean)))
            total = self.count + block.size
            delta = mean - self.mean
            self.mean += delta * block.size / total
            self.m2 += m2 + delta * delta * self.count * block.size / total
        self.count = total

    def profile(self, bins: int) -> NumericProfile:
        sample = np.sort(self.sample)
        detector = PSITest(sample, bins=bins)
        rows = self.count + self.missing
        std = math.sqrt(self.m2 / self.count) if self.m2 >= 0 else math.nan
        return NumericProfile(
            count=self.count,
            missing=self.missing,
            missing_share=self.missing / rows,
            mean=self.mean if math.isfinite(self.mean) else None,
            std=std if math.isfinite(std) else None,
            min=float(self.low),
            max=float(self.high),
            quantiles=dict(zip(QUANTILES, np.quantile(sample, _LEVELS).tolist(), strict=True)),
            sample=sample,
            bin_edges=detector.bin_edges[1:-1],
            bin_proportions=detector.bin_proportions,
        )


class _CategoricalColumn:
    def __init__(self) -> None:
        self.missing = 0
        self.counts: Counter[str] = Counter()

    def add(self, values: Sequence[Any] | np.ndarray) -> None:
        if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
            present = values[~np.isnan(values)] if values.dtype.kind == "f" else values
            self.missing += values.size - present.size
            distinct, counts = np.unique(present, return_counts=True)
            raw = Counter(dict(zip(distinct.tolist(), counts.tolist(), strict=True)))
        else:
            raw = Counter(values)  # counting the raw values first keeps the per-row work in C
        if any(isinstance(v, bool | np.bool_) for v in raw) and any(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in raw
        ):
            raw = Counter(category_of(v) for v in values)  # True == 1 must not be merged
        for value, times in raw.items():
            category = category_of(value)
            if category is None:
                self.missing += times
            else:
                self.counts[category] += times
        if len(self.counts) > MAX_DISTINCT_VALUES:
            raise ProfileError(
                f"more than {MAX_DISTINCT_VALUES:,} distinct values: an identifier, not a feature?"
            )

    def profile(self, max_categories: int) -> CategoricalProfile:
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        kept = ordered[:max_categories]
        count = sum(self.counts.values())
        return CategoricalProfile(
            count=count,
            missing=self.missing,
            missing_share=self.missing / (count + self.missing),
            categories=tuple(value for value, _ in kept),
            counts=np.array([times for _, times in kept], dtype=np.int64),
            other_count=count - sum(times for _, times in kept),
        )


def _numeric_values(values: Any, first_row: int) -> FloatArray:
    """float64 with NaN for missing; booleans and text that is not a number are errors."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype(np.float64)
    items = list(values)
    if not set(map(type, items)) & {bool, np.bool_}:  # a set of types: no per-row Python code
        try:
            array = np.array(items, dtype=np.float64)  # None is NaN; text is parsed as float()
        except (TypeError, ValueError):
            array = np.empty((0, 0))
        if array.ndim == 1:
            return array
    for row, value in enumerate(items, first_row):
        try:
            float(value if value is not None and not isinstance(value, bool | np.bool_) else "x")
        except (TypeError, ValueError):
            if value is not None:
                raise ProfileError(f"row {row} holds {value!r}, not a number") from None
    raise AssertionError("unreachable: some value failed the conversion above")


class ProfileBuilder:
    """Builds a :class:`Profile` from chunks of columns (``update``), then ``finish``.

    Memory is bounded by the samples, one block of rows per numeric column and the distinct
    categories. After a :class:`ProfileError` from ``update`` the builder must be discarded.
    """

    def __init__(
        self,
        model: str,
        model_version: str | None,
        kinds: Mapping[str, Kind],
        score_column: str | None = None,
        *,
        sample_size: int = 10_000,
        bins: int = 10,
        seed: int = 0,
        max_categories: int = 1000,
    ) -> None:
        if sample_size < 1 or bins < 2 or max_categories < 1:
            raise ValueError("need sample_size >= 1, bins >= 2 and max_categories >= 1")
        if score_column is not None and score_column in kinds:
            raise ValueError(f"score column {score_column!r} is also listed as a feature")
        if set(kinds.values()) - {"numeric", "categorical"}:
            raise ValueError("kinds must be 'numeric' or 'categorical'")
        self.model, self.model_version = model, model_version
        self.kinds = dict(kinds)
        self.score_column = score_column
        self.settings = ProfileSettings(sample_size, bins, seed, max_categories)
        self.rows = 0
        self._rng = np.random.default_rng(seed)
        self._numeric = {
            name: _NumericColumn(sample_size)
            for name in [*self.kinds, *([score_column] if score_column else [])]
            if name == score_column or self.kinds[name] == "numeric"
        }
        self._categorical = {
            name: _CategoricalColumn() for name in self.kinds if name not in self._numeric
        }

    def update(self, columns: Mapping[str, Any]) -> None:
        """Add one chunk: every profiled column (a list or array), all of the same length."""
        names = [*self._numeric, *self._categorical]
        absent = [name for name in names if name not in columns]
        lengths = {len(columns[name]) for name in names if name not in absent}
        if absent or len(lengths) > 1:
            raise ValueError(f"each chunk needs every column, of one length (absent: {absent})")
        rows = lengths.pop() if lengths else 0
        # One key per row, drawn in row order: chunking does not change which rows are sampled.
        keys = self._rng.random(rows)
        for name in names:
            try:
                if name in self._numeric:
                    values = _numeric_values(columns[name], self.rows + 1)
                    self._numeric[name].add(values, keys)
                else:
                    self._categorical[name].add(columns[name])
            except (ProfileError, TypeError) as exc:
                kind = "numeric" if name in self._numeric else "categorical"
                raise ProfileError(f"{kind} column {name!r}: {exc}") from None
        self.rows += rows

    def finish(
        self,
        *,
        source_path: str | None = None,
        source_format: str | None = None,
        created_at: str | None = None,
    ) -> Profile:
        """The profile; a column without any value is an error (no reference to build)."""
        empty = [name for name, column in self._numeric.items() if not column.sample.size]
        empty += [name for name, column in self._categorical.items() if not column.counts]
        if empty:
            names = ", ".join(map(repr, empty))
            raise ProfileError(f"no values in column {names} (all {self.rows:,} rows missing)")
        for column in self._numeric.values():
            column.flush(only_full_blocks=False)
        numeric = {name: c.profile(self.settings.bins) for name, c in self._numeric.items()}
        categorical = {
            n: c.profile(self.settings.max_categories) for n, c in self._categorical.items()
        }
        features: dict[str, FeatureProfile] = {}
        for name in self.kinds:
            features[name] = numeric[name] if name in numeric else categorical[name]
        return Profile(
            model=self.model,
            model_version=self.model_version,
            features=features,
            score=numeric[self.score_column] if self.score_column else None,
            settings=self.settings,
            source=ProfileSource(source_path, source_format, self.rows),
            **({"created_at": created_at} if created_at else {}),
        )
