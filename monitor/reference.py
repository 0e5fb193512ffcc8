"""A model's reference distribution, column by column, and the detectors built on it.

A reference comes from a profile file (``driftd baseline``) or from warm-up: the first N
events a monitor sees. Either way it ends as one :class:`ColumnReference` per column, and
the detectors are built from that once; windows are then only tested, never re-binned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import detectors as dt
from monitor.config_drift import DetectorsConfig

SCORE = "prediction.score"


@dataclass(slots=True)
class ColumnReference:
    kind: str  # "numeric" | "categorical"
    size: int
    # numeric
    sample: np.ndarray | None = None
    edges: np.ndarray | None = None
    proportions: np.ndarray | None = None
    # categorical: codes are positions in ``categories``; len(categories) is "unseen"
    categories: list[str] = field(default_factory=list)
    counts: np.ndarray | None = None
    # Where values outside ``categories`` are counted: None for the unseen bucket, or the
    # name of a reference category that pools rare values.
    unknown_to: str | None = None

    @classmethod
    def numeric_from_sample(cls, values: np.ndarray, bins: int = 10) -> ColumnReference:
        finite = np.sort(values[np.isfinite(values)])
        if finite.size < 2:
            # An optional column (or the score) absent during warm-up: nothing to test
            # against, the column stays unmonitored (``usable`` is false).
            return cls("numeric", int(finite.size), finite)
        binned = dt.PSITest(finite, bins=bins)
        return cls(
            "numeric",
            int(finite.size),
            finite,
            np.asarray(binned.bin_edges)[1:-1],
            np.asarray(binned.bin_proportions),
        )

    @classmethod
    def categorical_from_values(cls, values: list[str | None], limit: int) -> ColumnReference:
        counted: dict[str, int] = {}
        for value in values:
            if value is not None:
                counted[value] = counted.get(value, 0) + 1
        ordered = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return cls(
            "categorical",
            sum(counted.values()),
            categories=[k for k, _ in ordered],
            counts=np.array([c for _, c in ordered], dtype=np.int64),
        )

    def usable(self) -> bool:
        if self.kind == "numeric":
            return self.sample is not None and self.sample.size >= 2
        return self.counts is not None and int(self.counts.sum()) > 0


def build_detectors(
    column: ColumnReference, tests: Sequence[str], settings: DetectorsConfig
) -> dict[str, Any]:
    """The configured detectors of one column, keyed by test name."""
    built: dict[str, Any] = {}
    for test in tests:
        if column.kind == "numeric":
            built[test] = _numeric(test, column, settings)
        else:
            built[test] = _categorical(test, column, settings)
    return built


def _numeric(test: str, column: ColumnReference, s: DetectorsConfig) -> Any:
    assert column.sample is not None
    if test == "ks":
        return dt.KSTest(column.sample, alpha=s.ks.alpha, min_statistic=s.ks.min_statistic)
    if test == "psi":
        return dt.PSITest(
            edges=_open_edges(column),
            reference_proportions=column.proportions,
            reference_size=column.size,
            moderate=s.psi.moderate,
            major=s.psi.major,
            epsilon=s.psi.epsilon,
        )
    if test == "wasserstein":
        return dt.WassersteinTest(column.sample, threshold=s.wasserstein.threshold)
    if test == "jensenshannon":
        return dt.JensenShannonTest(
            edges=_open_edges(column),
            reference_proportions=column.proportions,
            reference_size=column.size,
            threshold=s.jensenshannon.threshold,
        )
    raise ValueError(f"unknown numeric test {test!r}")


def _categorical(test: str, column: ColumnReference, s: DetectorsConfig) -> Any:
    counts = column.counts
    assert counts is not None
    if test == "chi2":
        return dt.ChiSquareTest(counts, alpha=s.chi2.alpha, min_effect=s.chi2.min_effect)
    if test == "psi":
        return dt.CategoricalPSITest(
            counts, moderate=s.psi.moderate, major=s.psi.major, epsilon=s.psi.epsilon
        )
    if test == "jensenshannon":
        return dt.CategoricalJensenShannonTest(counts, threshold=s.jensenshannon.threshold)
    raise ValueError(f"unknown categorical test {test!r}")


def _open_edges(column: ColumnReference) -> np.ndarray:
    """Profiles store inner edges; the detectors take the outer two as -inf/+inf."""
    assert column.edges is not None
    return np.concatenate(([-np.inf], column.edges, [np.inf]))
