"""Private building blocks for the binned detectors (PSI, Jensen-Shannon).

Numeric bins
    Edges are the reference quantiles (numpy's default linear interpolation) at
    ``0, 1/bins, ..., 1`` with the outer two replaced by ``-inf``/``+inf`` so that bins are
    open-ended and every value lands in a bin. Duplicate inner quantiles (ties) are dropped;
    deduplication is done on the inner edges only, so a tie at the minimum or maximum (e.g.
    a 0/1 feature) does not merge every value into a single, uninformative bin. A value ``x``
    falls in bin ``i`` when ``edges[i] <= x < edges[i + 1]``
    (``np.searchsorted(edges, x, side="right") - 1``, clipped to the outer bins).

Categorical codes
    ``K`` known categories are coded ``0 .. K-1``; code ``K`` is the unseen-category bucket,
    whose reference share is 0.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from detectors._common import (
    FloatArray,
    Summary,
    category_labels,
    codes_to_counts,
    count_vector,
    float_vector,
    integer_at_least,
    read_only,
    reference_sample,
    sorted_summary,
)
from detectors.sample import CurrentSample, prepared


def quantile_edges(reference: FloatArray, bins: int) -> FloatArray:
    inner = np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def sorted_bin_counts(sorted_values: FloatArray, edges: FloatArray) -> FloatArray:
    """Values per bin, ``edges[i] <= x < edges[i + 1]``, for ascending values.

    Only the inner edges are located among the values (a few binary searches instead of one
    per value): the values below inner edge ``i`` fill bins ``0 .. i``, and the outer bins are
    open, so -inf lands in the first bin and +inf in the last.
    """
    below_edges = np.empty(edges.size, dtype=np.float64)
    below_edges[0], below_edges[-1] = 0.0, sorted_values.size
    below_edges[1:-1] = np.searchsorted(sorted_values, edges[1:-1], side="left")
    return below_edges[1:] - below_edges[:-1]


def validated_edges(edges: ArrayLike) -> FloatArray:
    """Strictly increasing edges (>= 2 bins); the outer two are made open-ended."""
    array = float_vector("edges", edges)
    if array.size < 3:
        raise ValueError("edges must define at least 2 bins (3 or more edges)")
    inner = array[1:-1]
    if np.any(np.isnan(array)) or not np.all(np.isfinite(inner)):
        raise ValueError("edges must not contain NaN; inner edges must be finite")
    if np.any(np.diff(array) <= 0):
        raise ValueError("edges must be strictly increasing")
    return np.concatenate([[-np.inf], inner, [np.inf]])


def bin_labels(edges: FloatArray) -> list[dict[str, Any]]:
    # JSON has no infinity: open ends are reported as None.
    def bound(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    return [
        {"bin": i, "lower": bound(edges[i]), "upper": bound(edges[i + 1])}
        for i in range(edges.size - 1)
    ]


class NumericBinnedDetector:
    """Reference handling shared by the numeric binned detectors.

    Exactly one form is accepted: a ``reference`` sample (bins from its quantiles, or from
    ``edges`` if given), or a stored profile ``edges`` + ``reference_proportions`` (optionally
    with ``reference_size``, the number of observations the profile was built from).
    """

    def __init__(
        self,
        reference: ArrayLike | None,
        bins: int,
        edges: ArrayLike | None,
        reference_proportions: ArrayLike | None,
        reference_size: int | None,
    ) -> None:
        self.bins = integer_at_least("bins", bins, 2)
        self.reference: FloatArray | None = None
        self.edges: FloatArray | None = None
        self.reference_proportions: FloatArray | None = None
        self.reference_size = reference_size
        if edges is not None:
            self.edges = read_only(float_vector("edges", edges))
            self._edges = read_only(validated_edges(edges))
        if reference is not None:
            if reference_proportions is not None or reference_size is not None:
                raise ValueError("give either reference, or reference_proportions with edges")
            self.reference = reference_sample(reference)
            sorted_reference = np.sort(self.reference)
            if edges is None:
                self._edges = read_only(quantile_edges(sorted_reference, self.bins))
            counts = sorted_bin_counts(sorted_reference, self._edges)
            self._reference_proportions = read_only(counts / sorted_reference.size)
            self._n_reference = int(sorted_reference.size)
            self._reference_summary: Summary | None = sorted_summary(sorted_reference)
            return
        if edges is None or reference_proportions is None:
            raise ValueError("give a reference sample, or both edges and reference_proportions")
        proportions = float_vector("reference_proportions", reference_proportions)
        if proportions.size != self._edges.size - 1:
            raise ValueError("reference_proportions must have one entry per bin")
        if not np.all(np.isfinite(proportions)) or np.any(proportions < 0):
            raise ValueError("reference_proportions must be finite and non-negative")
        if abs(proportions.sum() - 1.0) > 1e-6:
            raise ValueError("reference_proportions must sum to 1")
        if reference_size is not None:
            integer_at_least("reference_size", reference_size, 1)
        self.reference_proportions = read_only(proportions)
        self._reference_proportions = self.reference_proportions
        self._n_reference = 0 if reference_size is None else int(reference_size)
        self._reference_summary = None

    @property
    def bin_edges(self) -> FloatArray:
        """Effective bin edges, outer ones infinite."""
        return self._edges

    @property
    def bin_proportions(self) -> FloatArray:
        """Reference proportion of each bin."""
        return self._reference_proportions

    @functools.cached_property
    def _bin_labels(self) -> list[dict[str, Any]]:
        # The edges never change: label the bins once, not on every test.
        return bin_labels(self._edges)

    def _current_proportions(
        self, current: ArrayLike | CurrentSample
    ) -> tuple[FloatArray, int, CurrentSample]:
        """Current bin proportions, observation count and the prepared sample (sorting once
        serves both the bin counts and the summary's quantiles)."""
        sample = prepared(current)
        counts = sorted_bin_counts(sample.sorted, self._edges)
        return counts / sample.size, sample.size, sample

    def _explanation(self, sample: CurrentSample) -> dict[str, Any]:
        return {
            "current_missing": sample.missing,
            "reference": None if self._reference_summary is None else dict(self._reference_summary),
            "current": sample.summary(),
        }

    def _bin_state(self) -> dict[str, Any]:
        return {
            "inner_edges": self._edges[1:-1].tolist(),
            "reference_proportions": self._reference_proportions.tolist(),
            "n_reference": self._n_reference,
            "reference_summary": self._reference_summary,
        }

    @staticmethod
    def _bin_kwargs(state: dict[str, Any]) -> dict[str, Any]:
        return {
            "edges": [-np.inf, *state["inner_edges"], np.inf],
            "reference_proportions": state["reference_proportions"],
            "reference_size": state["n_reference"] or None,
        }

    def _restore_summary(self, state: dict[str, Any]) -> None:
        self._reference_summary = state["reference_summary"]

    @staticmethod
    def _normal_reference() -> FloatArray:
        return np.random.default_rng(7).normal(0.0, 1.0, 10_000)

    @classmethod
    def _invalid_binned_params(cls) -> list[dict[str, Any]]:
        good = np.linspace(-1.0, 1.0, 50)
        two_bins = [0.0, 1.0, 2.0]
        return [
            {},
            {"reference": []},
            {"reference": [0.0, np.nan]},
            {"reference": [0.0, np.inf]},
            {"reference": good, "bins": 1},
            {"reference": good, "bins": 2.5},
            {"reference": good, "reference_proportions": [0.5, 0.5]},
            {"edges": two_bins},
            {"edges": two_bins, "reference_proportions": [0.5, 0.6]},
            {"edges": two_bins, "reference_proportions": [1.0]},
            {"edges": two_bins, "reference_proportions": [-0.5, 1.5]},
            {"edges": two_bins, "reference_proportions": [0.5, 0.5], "reference_size": 0},
            {"edges": [0.0, 2.0, 1.0], "reference_proportions": [0.5, 0.5]},
            {"edges": [0.0, np.nan, 2.0], "reference_proportions": [0.5, 0.5]},
            {"edges": [0.0, 1.0], "reference_proportions": [1.0]},
        ]


class CategoricalDetector:
    """Reference handling shared by the categorical detectors (K categories + unseen bucket)."""

    def __init__(self, reference_counts: ArrayLike) -> None:
        self.reference_counts = read_only(count_vector("reference_counts", reference_counts))
        self.n_categories = int(self.reference_counts.size)
        # The unseen bucket (code K) has no reference mass by definition.
        self._reference_counts = read_only(np.append(self.reference_counts, 0.0))
        self._n_reference = int(self._reference_counts.sum())
        self._reference_share = read_only(self._reference_counts / self._n_reference)
        self._labels = category_labels(self.n_categories)

    def _counts_from_codes(self, codes: ArrayLike) -> FloatArray:
        return codes_to_counts(codes, self.n_categories)

    def _checked_current_counts(self, counts: ArrayLike) -> FloatArray:
        return count_vector("current counts", counts, length=self.n_categories + 1)

    @classmethod
    def _categorical_params(cls) -> list[dict[str, Any]]:
        return [
            {"reference_counts": [4000, 3000, 2000, 1000]},
            {"reference_counts": np.array([5000, 2500, 1500, 1000, 0])},
        ]

    @classmethod
    def _invalid_categorical_params(cls) -> list[dict[str, Any]]:
        return [
            {"reference_counts": []},
            {"reference_counts": [0, 0, 0]},
            {"reference_counts": [5, -1, 3]},
            {"reference_counts": [5, np.nan, 3]},
            {"reference_counts": [5, 1.5, 3]},
            {"reference_counts": [[1, 2], [3, 4]]},
        ]
