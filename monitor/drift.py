"""One drift monitor: a stream of rows (one model, reference and segment), its windows,
and the detectors that test each closed window against the reference.

Rows arrive as column blocks. Numeric columns are float64 with NaN for missing values;
categorical columns are int32 codes of the model's :class:`CategoryCoder` and are mapped to
this monitor's reference categories only when a window is tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors import CurrentSample, DriftResult
from monitor.arrays import Block, block_len, concat, pack, pack_block, unpack, unpack_block
from monitor.categories import CategoryCoder
from monitor.config import ModelConfig
from monitor.reference import SCORE, ColumnReference, build_detectors
from monitor.windows import ClosedWindow, Window, make_window


@dataclass(slots=True)
class WindowReport:
    """The tests of one closed window: ``results[column][test]``."""

    window: ClosedWindow
    results: dict[str, dict[str, DriftResult]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ReferenceSource:
    kind: str  # "profile" | "warmup"
    ident: str  # profile content hash, or "warmup"
    columns: dict[str, ColumnReference] | None  # None while warming up


class DriftMonitor:
    def __init__(
        self,
        model: str,
        config: ModelConfig,
        reference: ReferenceSource,
        coders: dict[str, CategoryCoder],
        segment: str = "",
    ) -> None:
        self.model = model
        self.coders = coders
        self.config = config
        self.segment = segment
        self.reference = reference
        self.kinds: dict[str, str] = {name: f.type for name, f in config.features.items()}
        if config.detectors.score:
            self.kinds[SCORE] = "numeric"
        self.windows: list[Window] = [make_window(spec) for spec in config.windows]
        self._warmup: list[Block] = []
        self._warmup_rows = 0
        self._detectors: dict[str, dict[str, Any]] = {}
        if reference.columns is not None:
            self._build(reference.columns)

    # -- state ------------------------------------------------------------------------
    @property
    def warming_up(self) -> bool:
        return self.reference.columns is None

    @property
    def warmup_remaining(self) -> int:
        return (
            max(0, self.config.reference.warmup_events - self._warmup_rows)
            if self.warming_up
            else 0
        )

    def snapshot(self) -> dict[str, Any]:
        built = self.reference.kind == "warmup" and self.reference.columns is not None
        return {
            "reference": self.reference.ident,
            "warmup": pack_block(concat(self._warmup)) if self._warmup else None,
            "warmup_reference": _pack_columns(self.reference.columns) if built else None,
            "windows": [window.snapshot() for window in self.windows],
        }

    def restore(self, state: dict[str, Any]) -> bool:
        """Restore window state; False (state ignored) if it was built on another reference."""
        if state["reference"] != self.reference.ident:
            return False
        if self.warming_up and state["warmup_reference"] is not None:
            columns = _unpack_columns(state["warmup_reference"])
            self.reference = ReferenceSource("warmup", "warmup", columns)
            self._build(columns)
        elif self.warming_up and state["warmup"] is not None:
            self._warmup = []
            self._warmup_rows = 0
            self._add_warmup(unpack_block(state["warmup"]))
        for window, window_state in zip(self.windows, state["windows"], strict=True):
            window.restore(window_state)
        return True

    # -- rows -------------------------------------------------------------------------
    def add(self, rows: Block) -> list[WindowReport]:
        if self.warming_up:
            rows = self._add_warmup(rows)
            if self.warming_up or block_len(rows) == 0:
                return []
        reports = []
        for window in self.windows:
            for closed in window.add(rows):
                reports.append(self._test(closed))
        return reports

    def _add_warmup(self, rows: Block) -> Block:
        """Take rows into the warm-up reference; return the rows left over after it is built."""
        needed = self.config.reference.warmup_events - self._warmup_rows
        n = block_len(rows)
        head = {k: v[:needed] for k, v in rows.items()}
        self._warmup.append(head)
        self._warmup_rows += min(n, needed)
        if self._warmup_rows < self.config.reference.warmup_events:
            return {k: v[:0] for k, v in rows.items()}
        data = concat(self._warmup)
        self._warmup = []
        columns = {}
        for name, kind in self.kinds.items():
            if kind == "numeric":
                columns[name] = ColumnReference.numeric_from_sample(data[name].astype(np.float64))
            else:
                values = self.coders[name].decode(data[name])
                columns[name] = ColumnReference.categorical_from_values(values, 1000)
        self.reference = ReferenceSource("warmup", "warmup", columns)
        self._build(columns)
        return {k: v[needed:] for k, v in rows.items()}

    def _build(self, columns: dict[str, ColumnReference]) -> None:
        tests = self.config.detectors
        for name, kind in self.kinds.items():
            column = columns.get(name)
            if column is None or not column.usable():
                continue
            wanted: Sequence[str]
            if name == SCORE:
                wanted = tests.score
            elif kind == "numeric":
                wanted = tests.numeric
            else:
                wanted = tests.categorical
            self._detectors[name] = build_detectors(column, wanted, tests)

    # -- tests ------------------------------------------------------------------------
    def _test(self, closed: ClosedWindow) -> WindowReport:
        report = WindowReport(closed)
        if closed.too_small:
            return report
        columns = self.reference.columns
        assert columns is not None
        for name, detectors in self._detectors.items():
            values = closed.rows[name]
            if self.kinds[name] == "numeric":
                if not np.isfinite(values).any():
                    report.skipped.append(name)
                    continue
                # Sorted and summarised once for all of the column's tests.
                sample = CurrentSample(values)
                report.results[name] = {test: d.test(sample) for test, d in detectors.items()}
            else:
                column = columns[name]
                counts = self.coders[name].counts_against(
                    values, column.categories, column.unknown_to
                )
                if counts.sum() == 0:
                    report.skipped.append(name)
                    continue
                report.results[name] = {
                    test: d.test_counts(counts) for test, d in detectors.items()
                }
        return report


def _pack_columns(columns: dict[str, ColumnReference] | None) -> dict[str, Any]:
    assert columns is not None
    packed: dict[str, Any] = {}
    for name, c in columns.items():
        arrays = [
            pack(a) if a is not None else None for a in (c.sample, c.edges, c.proportions, c.counts)
        ]
        packed[name] = [c.kind, c.size, c.categories, c.unknown_to, *arrays]
    return packed


def _unpack_columns(packed: dict[str, Any]) -> dict[str, ColumnReference]:
    columns = {}
    for name, (kind, size, categories, unknown_to, *arrays) in packed.items():
        sample, edges, proportions, counts = (unpack(a) if a is not None else None for a in arrays)
        columns[name] = ColumnReference(
            kind, size, sample, edges, proportions, list(categories), counts, unknown_to
        )
    return columns
