"""Statistics checked against independent computations (scipy, textbook formulas)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from detectors import (
    CategoricalJensenShannonTest,
    CategoricalPSITest,
    ChiSquareTest,
    JensenShannonTest,
    KSTest,
    PSITest,
    WassersteinTest,
    benjamini_hochberg,
    bonferroni,
)

RNG_SEED = 20240501
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


def _samples() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(RNG_SEED)
    return [
        ("continuous", rng.normal(0, 1, 3000), rng.normal(0.05, 1.1, 1700)),
        ("shifted", rng.normal(0, 1, 500), rng.normal(0.8, 1, 300)),
        ("integers-with-ties", rng.integers(0, 12, 2000) * 1.0, rng.integers(1, 13, 900) * 1.0),
        ("binary", rng.integers(0, 2, 1000) * 1.0, (rng.random(400) < 0.6) * 1.0),
        ("identical", np.arange(100.0), np.arange(100.0)),
        ("tiny-n-not-m", np.array([1.0, 2.0, 2.0]), np.array([2.0, 3.0, 4.0, 4.0, 5.0])),
    ]


SAMPLES = [pytest.param(ref, cur, id=name) for name, ref, cur in _samples()]


# -- Kolmogorov-Smirnov -------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "current"), SAMPLES)
def test_ks_matches_scipy_asymp(reference: np.ndarray, current: np.ndarray) -> None:
    result = KSTest(reference).test(current)
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-12)
    assert result.explanation["statistic_location"] == expected.statistic_location


@pytest.mark.parametrize("method", ["exact", "auto"])
def test_ks_exact_and_auto_delegate_to_scipy(method: str) -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(0, 1, 120), rng.normal(0.3, 1, 80)
    result = KSTest(reference, method=method).test(current)
    expected = stats.ks_2samp(reference, current, method=method)
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-12)


@PROPERTY_SETTINGS
@given(
    reference=st.lists(st.integers(-5, 5), min_size=1, max_size=60),
    current=st.lists(st.integers(-5, 5), min_size=1, max_size=60),
)
def test_ks_property_matches_scipy_on_discrete_data(
    reference: list[int], current: list[int]
) -> None:
    result = KSTest(np.array(reference, dtype=float)).test(np.array(current, dtype=float))
    if len(reference) == len(current) == 1:
        # scipy divides by zero and returns NaN here; the detector reports p = 1.
        assert result.p_value == 1.0
        return
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-12)


def _tied_samples() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(RNG_SEED + 1)
    return [
        ("rounded", rng.normal(0, 1, 10_000).round(1), rng.normal(0.1, 1, 7_000).round(1)),
        ("rounded-fine", rng.normal(0, 1, 4_000).round(3), rng.normal(0, 1.2, 9_000).round(3)),
        ("poisson", rng.poisson(3.0, 5_000) * 1.0, rng.poisson(3.4, 2_500) * 1.0),
        ("current-constant", rng.integers(0, 5, 800) * 1.0, np.full(300, 2.0)),
        ("reference-constant", np.full(500, 1.0), rng.integers(0, 3, 700) * 1.0),
        ("disjoint", np.arange(1_000.0), np.arange(1_000.0, 1_500.0)),
        ("current-inside-reference-values", np.repeat([1.0, 2.0, 3.0], 50), np.array([2.0] * 7)),
        ("equal-samples-shuffled", np.arange(300.0) % 7, rng.permutation(np.arange(300.0) % 7)),
        ("one-current", rng.integers(0, 4, 200) * 1.0, np.array([3.0])),
        # The gap -1/2 is reached first at 0 (current only), then at 1, a reference value:
        # scipy's layout lists reference values first, so it reports 1.
        ("first-extreme-only-in-current", np.array([1.0, 2.0]), np.array([0.0, 1.0])),
    ]


@pytest.mark.parametrize(
    ("reference", "current"),
    [pytest.param(ref, cur, id=name) for name, ref, cur in _tied_samples()],
)
def test_ks_statistic_and_location_equal_scipys_with_ties(
    reference: np.ndarray, current: np.ndarray
) -> None:
    result = KSTest(reference).test(current)
    expected = stats.ks_2samp(reference, current, method="asymp")
    # Same counts, same arithmetic, same tie-breaking: equal, not merely close.
    assert result.statistic == expected.statistic
    assert result.explanation["statistic_location"] == expected.statistic_location
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-15)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    sizes=st.tuples(st.integers(1, 3_000), st.integers(2, 3_000)),
    decimals=st.integers(0, 2),
    shift=st.floats(-0.5, 0.5),
)
def test_ks_property_statistic_and_location_on_rounded_data(
    seed: int, sizes: tuple[int, int], decimals: int, shift: float
) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.normal(0, 1, sizes[0]).round(decimals)
    current = rng.normal(shift, 1, sizes[1]).round(decimals)
    result = KSTest(reference).test(current)
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == expected.statistic
    assert result.explanation["statistic_location"] == expected.statistic_location
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-15)


# -- Wasserstein --------------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "current"), SAMPLES)
def test_wasserstein_matches_scipy(reference: np.ndarray, current: np.ndarray) -> None:
    result = WassersteinTest(reference).test(current)
    expected = stats.wasserstein_distance(reference, current) / np.std(reference)
    assert result.statistic == pytest.approx(expected, rel=1e-9, abs=1e-12)


@PROPERTY_SETTINGS
@given(
    reference=st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=50, unique=True),
    current=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50),
)
def test_wasserstein_property_matches_scipy(reference: list[float], current: list[float]) -> None:
    result = WassersteinTest(reference).test(current)
    scale = np.std(reference)  # may underflow to 0 for subnormal spreads: then 1.0 is used
    expected = stats.wasserstein_distance(reference, current) / (scale if scale > 0 else 1.0)
    assert result.statistic == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_wasserstein_constant_reference_uses_unit_scale() -> None:
    result = WassersteinTest(np.full(10, 3.0)).test(np.array([3.0, 5.0]))
    assert result.statistic == pytest.approx(stats.wasserstein_distance([3.0] * 10, [3.0, 5.0]))
    assert result.explanation["reference_scale"] == 1.0


# -- chi-square ---------------------------------------------------------------------------------


def _scipy_chi2(reference: np.ndarray, current: np.ndarray) -> tuple[float, float, float]:
    """chi2, p and Cramer's V (uncorrected) from scipy on the table without empty columns."""
    table = np.vstack([np.append(reference, 0), current])
    table = table[:, table.sum(axis=0) > 0]
    result = stats.chi2_contingency(table)
    uncorrected = stats.chi2_contingency(table, correction=False).statistic
    v = np.sqrt(uncorrected / (table.sum() * (min(table.shape) - 1))) if table.shape[1] > 1 else 0
    return float(result.statistic), float(result.pvalue), float(v)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([120, 80, 50, 0], [40, 50, 30, 0, 7]),  # dof > 1, empty column, unseen values
        ([30, 20], [10, 15, 0]),  # dof == 1: Yates correction applies
        ([30, 20], [30, 20, 0]),  # identical proportions (Yates caps the correction)
        ([30, 0, 20], [0, 5, 0, 0]),  # dof == 2 with one cell only in the current row
    ],
)
def test_chi2_matches_scipy(reference: list[int], current: list[int]) -> None:
    result = ChiSquareTest(reference).test_counts(current)
    statistic, p_value, cramers_v = _scipy_chi2(np.array(reference), np.array(current))
    assert result.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-9)
    assert result.explanation["cramers_v"] == pytest.approx(cramers_v, abs=1e-12)


@PROPERTY_SETTINGS
@given(data=st.data(), n_categories=st.integers(1, 6))
def test_chi2_property_matches_scipy(data: st.DataObject, n_categories: int) -> None:
    reference = data.draw(
        st.lists(st.integers(0, 200), min_size=n_categories, max_size=n_categories).filter(
            lambda c: sum(c) > 0
        )
    )
    current = data.draw(
        st.lists(st.integers(0, 200), min_size=n_categories + 1, max_size=n_categories + 1).filter(
            lambda c: sum(c) > 0
        )
    )
    result = ChiSquareTest(reference).test_counts(current)
    statistic, p_value, cramers_v = _scipy_chi2(np.array(reference), np.array(current))
    assert result.statistic == pytest.approx(statistic, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(p_value, rel=1e-9, abs=1e-9)
    assert result.explanation["cramers_v"] == pytest.approx(cramers_v, abs=1e-9)


def test_chi2_codes_and_counts_agree() -> None:
    codes = np.array([0, 0, 1, 2, 3, 3, 3])
    detector = ChiSquareTest([10, 5, 5])
    assert detector.test(codes) == detector.test_counts([2, 1, 1, 3])


# -- Jensen-Shannon -----------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "current"), SAMPLES)
def test_jensenshannon_numeric_matches_scipy(reference: np.ndarray, current: np.ndarray) -> None:
    detector = JensenShannonTest(reference)
    edges = detector.bin_edges
    reference_counts = _histogram(reference, edges)
    current_counts = _histogram(current, edges)
    expected = jensenshannon(reference_counts, current_counts, base=2)
    assert detector.test(current).statistic == pytest.approx(expected, abs=1e-12)


@PROPERTY_SETTINGS
@given(data=st.data(), n_categories=st.integers(1, 6))
def test_jensenshannon_categorical_property_matches_scipy(
    data: st.DataObject, n_categories: int
) -> None:
    reference = data.draw(
        st.lists(st.integers(0, 100), min_size=n_categories, max_size=n_categories).filter(
            lambda c: sum(c) > 0
        )
    )
    current = data.draw(
        st.lists(st.integers(0, 100), min_size=n_categories + 1, max_size=n_categories + 1).filter(
            lambda c: sum(c) > 0
        )
    )
    result = CategoricalJensenShannonTest(reference).test_counts(current)
    expected = jensenshannon(np.append(reference, 0), current, base=2)
    assert result.statistic == pytest.approx(expected, abs=1e-12)
    contributions = sum(entry["contribution"] for entry in result.explanation["categories"])
    if n_categories + 1 <= 5:  # all contributors listed: they add up to the divergence
        assert contributions == pytest.approx(result.statistic**2, abs=1e-12)


# -- PSI (textbook formula, written out independently) ------------------------------------------


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Count values with edges[i] <= x < edges[i + 1], one bin at a time."""
    return np.array(
        [np.count_nonzero((values >= lo) & (values < hi)) for lo, hi in itertools.pairwise(edges)]
    )


def _textbook_psi(reference: np.ndarray, current: np.ndarray, epsilon: float = 1e-4) -> float:
    total = 0.0
    for raw_ref, raw_cur in zip(reference, current, strict=True):
        ref = raw_ref if raw_ref > 0 else epsilon
        cur = raw_cur if raw_cur > 0 else epsilon
        total += (cur - ref) * np.log(cur / ref)
    return total


def _textbook_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


@pytest.mark.parametrize("bins", [4, 10])
def test_psi_matches_textbook_formula_with_an_empty_bin(bins: int) -> None:
    rng = np.random.default_rng(11)
    reference = rng.normal(0, 1, 4000)
    current = rng.normal(0, 1, 2000)
    current = current[current > np.quantile(reference, 1 / bins)]  # first bin left empty
    edges = _textbook_edges(reference, bins)
    expected = _textbook_psi(
        _histogram(reference, edges) / reference.size, _histogram(current, edges) / current.size
    )
    result = PSITest(reference, bins=bins).test(current)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.explanation["bins"][0]["bin"] == 0  # the emptied bin dominates
    assert result.explanation["bins"][0]["current_share"] == 0.0


def test_psi_profile_form_with_zero_reference_share() -> None:
    edges = np.array([-np.inf, -1.0, 0.0, 1.0, np.inf])
    proportions = np.array([0.0, 0.5, 0.5, 0.0])
    current = np.array([-2.0, -0.5, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
    counts = _histogram(current, edges)
    expected = _textbook_psi(proportions, counts / counts.sum(), epsilon=1e-3)
    detector = PSITest(edges=edges, reference_proportions=proportions, epsilon=1e-3)
    assert detector.test(current).statistic == pytest.approx(expected, rel=1e-12)


def test_categorical_psi_matches_textbook_formula() -> None:
    reference = np.array([50, 30, 20, 0])
    current = np.array([10, 0, 50, 30, 10])  # category 1 vanished; 10 unseen values
    expected = _textbook_psi(np.append(reference, 0) / reference.sum(), current / current.sum())
    result = CategoricalPSITest(reference).test_counts(current)
    assert result.statistic == pytest.approx(expected, rel=1e-12)
    assert result.explanation["current_unseen"] == 10


# -- multiple-testing corrections ---------------------------------------------------------------


@PROPERTY_SETTINGS
@given(st.lists(st.floats(0.0, 1.0), max_size=40))
def test_benjamini_hochberg_matches_scipy(p_values: list[float]) -> None:
    adjusted = benjamini_hochberg(p_values)
    if p_values:
        expected = stats.false_discovery_control(np.array(p_values), method="bh")
        np.testing.assert_allclose(adjusted, expected, rtol=0, atol=1e-12)
    else:
        assert adjusted.size == 0


def test_benjamini_hochberg_with_ties_and_order() -> None:
    p_values = np.array([0.04, 0.01, 0.04, 0.5, 0.0, 1.0, 0.01])
    np.testing.assert_allclose(
        benjamini_hochberg(p_values), stats.false_discovery_control(p_values), atol=1e-12
    )


def test_bonferroni() -> None:
    np.testing.assert_allclose(bonferroni([0.01, 0.2, 0.5]), [0.03, 0.6, 1.0], atol=1e-15)
    assert bonferroni([]).size == 0


@pytest.mark.parametrize("function", [benjamini_hochberg, bonferroni])
@pytest.mark.parametrize("bad", [[0.1, np.nan], [-0.1], [1.5], [[0.1, 0.2]]])
def test_corrections_reject_invalid_p_values(
    function: Callable[[Any], np.ndarray], bad: list[Any]
) -> None:
    with pytest.raises(ValueError):
        function(bad)
