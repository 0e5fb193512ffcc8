"""Helpers that read summaries and bin counts off sorted values, against numpy's own
functions on the unsorted values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors._binning import sorted_bin_counts
from detectors._common import sorted_quantiles, sorted_summary

LEVELS = [0.0, 0.05, 0.25, 0.3, 0.5, 0.7, 0.75, 0.95, 1.0]


def _samples() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    return [
        ("normal", rng.normal(0, 1, 10_000)),
        ("odd-size", rng.normal(3, 10, 9_999)),
        ("rounded", rng.normal(0, 1, 5_000).round(1)),
        ("integers", rng.integers(-3, 4, 777) * 1.0),
        ("constant", np.full(50, 2.5)),
        ("one", np.array([4.0])),
        ("two", np.array([1.0, -1.0])),
        ("three", np.array([0.1, 0.7, 0.2])),
        ("wide", np.array([-1e300, -1.0, 0.0, 1e-300, 3.0, 1e300])),
    ]


@pytest.mark.parametrize("values", [pytest.param(v, id=name) for name, v in _samples()])
def test_quantiles_equal_numpys_bit_for_bit(values: np.ndarray) -> None:
    assert sorted_quantiles(np.sort(values), LEVELS) == np.quantile(values, LEVELS).tolist()


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=40
    ),
    level=st.floats(0.0, 1.0),
)
def test_quantile_property(values: list[float], level: float) -> None:
    array = np.array(values)
    levels = np.array([level])
    np.testing.assert_array_equal(
        sorted_quantiles(np.sort(array), levels), np.quantile(array, levels)
    )


@pytest.mark.parametrize("values", [pytest.param(v, id=name) for name, v in _samples()])
def test_summary(values: np.ndarray) -> None:
    ascending = np.sort(values)
    summary = sorted_summary(ascending)
    quantiles = np.quantile(values, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert [summary[k] for k in ("p05", "p25", "p50", "p75", "p95")] == quantiles.tolist()
    with np.errstate(over="ignore", invalid="ignore"):
        # Bit for bit on the same (sorted) array; summing in another order rounds otherwise.
        moments = {"mean": np.mean(ascending), "std": np.std(ascending)}
        unsorted = {"mean": np.mean(values), "std": np.std(values)}
    for key, expected in moments.items():
        assert summary[key] == (float(expected) if np.isfinite(expected) else None)
        if np.isfinite(expected):
            assert summary[key] == pytest.approx(unsorted[key], rel=1e-12, abs=1e-15)


def _counts_one_value_at_a_time(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value by the documented rule, edges[i] <= x < edges[i + 1], with
    the outer bins open."""
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, n_bins - 1)
    return np.bincount(index, minlength=n_bins).astype(np.float64)


EDGES = np.array([-np.inf, -1.0, 0.0, 0.5, 2.0, np.inf])


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.array([-1.0, 0.0, 0.5, 2.0]), id="exactly-on-edges"),
        pytest.param(np.array([-1.0] * 5 + [0.5] * 3 + [7.0] * 2), id="ties-on-edges"),
        pytest.param(np.array([-np.inf, -5.0, np.inf, np.inf]), id="infinities"),
        pytest.param(np.array([np.nextafter(0.0, -1.0), 0.0, np.nextafter(0.0, 1.0)]), id="ulps"),
        pytest.param(np.array([3.0]), id="one-value"),
        pytest.param(np.random.default_rng(2).normal(0, 1.5, 5_000).round(1), id="rounded"),
    ],
)
def test_bin_counts_follow_the_bin_rule(values: np.ndarray) -> None:
    np.testing.assert_array_equal(
        sorted_bin_counts(np.sort(values), EDGES), _counts_one_value_at_a_time(values, EDGES)
    )


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.integers(-4, 4), min_size=1, max_size=60),
    inner=st.lists(st.integers(-4, 4), min_size=1, max_size=6, unique=True),
)
def test_bin_counts_property(values: list[int], inner: list[int]) -> None:
    edges = np.array([-np.inf, *sorted(inner), np.inf])
    array = np.array(values, dtype=float)
    np.testing.assert_array_equal(
        sorted_bin_counts(np.sort(array), edges), _counts_one_value_at_a_time(array, edges)
    )
