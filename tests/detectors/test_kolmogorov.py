"""The Kolmogorov tail against scipy's own ``kstwo.sf`` on both branches computed in numpy
(exact sum, Pelz-Good) and at their boundaries, and the exact sum against a rational-arithmetic
evaluation of the Birnbaum-Tingey formula."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from detectors._kolmogorov import _smirnov_sf, kolmogorov_sf

# Measured on these grids: at most about 2e-13 relative and 4e-16 absolute.
RELATIVE = 1e-12
ABSOLUTE = 2e-15


def _scipy(x: float, n: int) -> float:
    return float(np.clip(stats.kstwo.sf(x, n), 0.0, 1.0))


def _assert_agrees(x: float, n: int) -> None:
    expected = _scipy(x, n)
    assert kolmogorov_sf(x, float(n)) == pytest.approx(expected, rel=RELATIVE, abs=ABSOLUTE), (
        n,
        x,
    )


def _exact_tail_grid(n: int, points: int) -> list[float]:
    """x across scipy's summed-tail branch, n x^2 in [2.2, 370), plus x >= 0.5."""
    nx_squared = np.geomspace(2.2, 369.0, points)
    return [*np.sqrt(nx_squared / n).tolist(), 0.5, 0.75, 1.0 - 2.5 / n]


# scipy sums the tail term by term (milliseconds for thousands of terms): the grid is
# denser for small n so the test stays around a second.
@pytest.mark.parametrize(
    ("n", "points"),
    [(141, 40), (142, 40), (500, 40), (1_000, 30), (5_000, 30), (5_001, 12), (20_000, 6)],
)
def test_exact_tail_matches_scipy_on_a_grid(n: int, points: int) -> None:
    for x in _exact_tail_grid(n, points):
        _assert_agrees(x, n)


def test_exact_tail_matches_scipy_for_a_large_sample() -> None:
    for nx_squared in (2.2, 9.0, 40.0):
        _assert_agrees(math.sqrt(nx_squared / 100_000), 100_000)


@pytest.mark.parametrize("n", [1_000_001, 5_000_000])
def test_matches_scipys_closed_form_above_a_million(n: int) -> None:
    for x in _exact_tail_grid(n, 20):
        _assert_agrees(x, n)


def test_statistics_of_two_samples_of_ten_thousand() -> None:
    # Effective size 5000 and statistics k / 10000: n x is an integer or a half, where the
    # last term of the sum has a base of zero in exact arithmetic.
    for k in (150, 200, 207, 300, 420, 1000, 2500, 6000):
        _assert_agrees(k / 10_000, 5_000)


@pytest.mark.parametrize("n", [141, 142, 999, 5_000, 99_999, 100_000, 100_001, 3_000_000])
def test_pelz_good_matches_scipy_on_a_grid(n: int) -> None:
    # From scipy's matrix-power region (n x^1.5 <= 1.4, up to n = 10^5) or x = 1/n, up to
    # the exact tail at n x^2 = 2.2.
    low = 1.0 / n if n > 100_000 else max(1.0 / n, (1.4 / n) ** (2 / 3))
    for x in np.geomspace(low, math.sqrt(2.2 / n), 40)[1:-1]:
        _assert_agrees(float(x), n)


def _around(value: float) -> list[float]:
    return [float(np.nextafter(value, 0.0)), value, float(np.nextafter(value, 1.0))]


@pytest.mark.parametrize("n", [141, 1_000, 100_000, 100_001])
def test_branch_boundaries_follow_scipys_arithmetic(n: int) -> None:
    # scipy's own formulas differ by up to 4e-8 at n x^2 = 2.2: the branch must be scipy's.
    boundaries = [math.sqrt(2.2 / n), math.sqrt(370.0 / n), (1.4 / n) ** (2 / 3), 1.0 / n]
    for boundary in boundaries:
        for x in _around(boundary):
            _assert_agrees(x, n)


@pytest.mark.parametrize(
    ("x", "n"),
    [
        (0.05, 140.0),  # small n: scipy's other formulas
        (0.004, 5_000.0),  # n x^1.5 <= 1.4: scipy's matrix power
        (0.0001, 5_000.0),  # n x <= 1
        (0.0, 5_000.0),
        (1.0, 5_000.0),
        (0.9999, 5_000.0),  # n x >= n - 1
        (0.3, 2.5),  # not an integer size: scipy decides
    ],
)
def test_other_branches_are_scipys(x: float, n: float) -> None:
    expected = float(np.clip(stats.kstwo.sf(x, n), 0.0, 1.0)) if n == int(n) else None
    if expected is None:
        assert math.isnan(kolmogorov_sf(x, n)) == math.isnan(stats.kstwo.sf(x, n))
    else:
        assert kolmogorov_sf(x, n) == expected


def _exact_one_sided_tail(n: int, x: float) -> Fraction:
    """Birnbaum and Tingey (1951): P(D+_n >= x), summed in exact rational arithmetic."""
    d = Fraction(x)
    total = Fraction(0)
    for j in range(math.floor(n * (1 - d)) + 1):
        base = 1 - d - Fraction(j, n)
        if base > 0:
            total += math.comb(n, j) * base ** (n - j) * (d + Fraction(j, n)) ** (j - 1)
    return d * total


@pytest.mark.parametrize(("n", "x"), [(150, 0.15), (150, 0.4), (300, 0.1), (300, 0.6)])
def test_one_sided_tail_matches_the_exact_sum(n: int, x: float) -> None:
    exact = float(_exact_one_sided_tail(n, x))
    assert _smirnov_sf(n, x) == pytest.approx(exact, rel=1e-13)
