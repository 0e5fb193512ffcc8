"""Survival function of the two-sided one-sample Kolmogorov distribution, ``P(D_n >= x)``,
equal to ``scipy.stats.kstwo.sf(x, n)`` (within about 1e-13 relative) but computed here where
scipy is slow. The two-sample KS test reads its asymptotic p-value from it.

For ``n > 140`` scipy's ``kstwo`` chooses between formulas by ``n x^2``; the two branches
that a window test meets almost always are reproduced here, with scipy's branch tests in the
same arithmetic so that both always pick the same formula:

``n x^2 >= 2.2`` (and ``x < 0.5``), or ``x >= 0.5``: the exact tail
    scipy returns ``2 * scipy.special.smirnov(n, x)``, clipped to [0, 1] (exactly 0 when
    ``x < 0.5`` and ``n x^2 >= 370``). ``smirnov`` adds the ``n (1 - x)`` terms of the
    Birnbaum-Tingey sum one at a time in double-double arithmetic, milliseconds for windows of
    thousands of values, paid on exactly the windows that drifted. The same sum, ::

        P(D+_n >= x) = x * sum_{j=0}^{floor(n(1-x))} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)

    is evaluated here in numpy, one log term per ``j`` with the binomial coefficient written
    through Stirling's series so that the large ``log n!`` parts cancel analytically::

        1.5 log n - 0.5 log(n-j) - 1.5 log j - log sqrt(2 pi) + s(n) - s(j) - s(n-j)
          + (n-j) log1p(-nx/(n-j)) + (j-1) log1p(nx/j)

    where ``s(k) = log k! - (k + 1/2) log k + k - log sqrt(2 pi)`` is Stirling's error (its
    asymptotic series from 16 on, a recurrence below). Terms whose base ``1 - x - j/n`` is
    not positive (zero in exact arithmetic, rounding aside) and terms 50 orders of e below
    the largest are left out. The j-only and (n-j)-only parts come from one table over the
    integers 1..n-1 (a few arrays of n floats: 40 MB at most, for n = 10^6). Above
    ``n = 10^6`` scipy's ``smirnov`` switches to the closed form
    ``exp(-(6nx + 1)^2 / (18 n))``, and so does this module.

``n x^1.5 > 1.4`` (or ``n > 10^5``) and ``1/n < x``, ``n x^2 < 2.2``: Pelz-Good
    scipy returns ``1 - F`` with ``F`` the Pelz-Good (1976) asymptotic series for the CDF
    (Simard and L'Ecuyer 2011), summed over scipy's number of terms ``ceil(16 z / pi)``,
    ``z = sqrt(n) x``. The series is evaluated here at once in numpy, without the per-term
    Python loop and the argument handling of ``rv_continuous`` (a third of a millisecond
    per call, on every quiet window).

Everything else (small ``n``, very small ``x`` where scipy raises a matrix to a power, the
ends of [0, 1], sizes that are not integers) is delegated to ``scipy.stats.kstwo.sf``.
tests/detectors/test_kolmogorov.py compares the branches with scipy on a grid of ``n``
and ``x``, and the exact sum with a rational-arithmetic evaluation.

>>> from scipy import stats
>>> drifted, quiet = kolmogorov_sf(0.04, 5_000), kolmogorov_sf(0.012, 5_000)
>>> f"{drifted:.6e}", bool(abs(drifted - stats.kstwo.sf(0.04, 5_000)) < 1e-18)
('2.180559e-07', True)
>>> f"{quiet:.6f}", bool(abs(quiet - stats.kstwo.sf(0.012, 5_000)) < 1e-15)
('0.463991', True)
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]

# Branch points of scipy's kstwo survival function (and of special.smirnov).
_SMALL_N = 140
_EXACT_TAIL_NX_SQUARED = 2.2
_ZERO_TAIL_NX_SQUARED = 370.0
_MATRIX_POWER_MAX_N = 100_000
_MATRIX_POWER_MAX_NX_1_5 = 1.4
_PELZ_GOOD_MIN_LOG = -708.0
_SMIRNOV_CLOSED_FORM_ABOVE_N = 1_000_000

_CHUNK = 1 << 16  # terms of the exact sum per vectorised block: bounds temporaries
_NEGLIGIBLE_NATS = 50.0  # e^-50 relative per term: below double precision even summed 1e6 times
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_PI2, _PI4, _PI6 = math.pi**2, math.pi**4, math.pi**6
_SERIES_FROM = 16


def kolmogorov_sf(x: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(x, n)`` clipped to [0, 1]."""
    size = int(n)
    if size == n and size > _SMALL_N and 0.0 < x < 1.0:
        # Mirrors scipy's _kolmogn (survival branch) test by test, in the same arithmetic.
        t = size * x
        if 1.0 < t < size - 1:
            if x >= 0.5:
                return _clip(2.0 * _smirnov_sf(size, x))
            nx_squared = t * x
            if nx_squared >= _ZERO_TAIL_NX_SQUARED:
                return 0.0
            if nx_squared >= _EXACT_TAIL_NX_SQUARED:
                return _clip(2.0 * _smirnov_sf(size, x))
            if size > _MATRIX_POWER_MAX_N or size * x**1.5 > _MATRIX_POWER_MAX_NX_1_5:
                return _clip(1.0 - _pelz_good_cdf(size, x))
    return _clip(float(stats.kstwo.sf(x, n)))


def _clip(p: float) -> float:
    return p if math.isnan(p) else min(max(p, 0.0), 1.0)


# -- the exact one-sided tail -------------------------------------------------------------------


def _stirling_series(k: FloatArray) -> FloatArray:
    # Terms up to k^-9; the first omitted one is below 2e-16 for k >= 16.
    u = 1.0 / (k * k)
    return (1 / 12 - u * (1 / 360 - u * (1 / 1260 - u * (1 / 1680 - u / 1188)))) / k


def _stirling_table() -> FloatArray:
    # s(k) = s(k + 1) + (k + 1/2) log(1 + 1/k) - 1, from log (k+1)! = log k! + log(k + 1).
    table = np.zeros(_SERIES_FROM + 1)
    table[_SERIES_FROM] = _stirling_series(np.array([float(_SERIES_FROM)]))[0]
    for k in range(_SERIES_FROM - 1, 0, -1):
        table[k] = table[k + 1] + (k + 0.5) * math.log1p(1.0 / k) - 1.0
    return table


_STIRLING_TABLE = _stirling_table()


def _smirnov_sf(n: int, x: float) -> float:
    """One-sided ``P(D+_n >= x)`` for ``n > 140`` and ``1/n < x < 1 - 1/n``."""
    if n > _SMIRNOV_CLOSED_FORM_ABOVE_N:
        log_p = -((6.0 * n * x + 1.0) ** 2) / 18.0 / n
        return math.exp(log_p) if log_p < -math.log(2.0) else 1.0 + math.expm1(log_p)
    nx = n * x
    constant = (
        1.5 * math.log(n)
        - _LOG_SQRT_2PI
        + float(_stirling_series(np.array([float(n)]))[0])
        + math.log(x)
    )
    # The parts of log C(n, j) that depend on j or on n - j alone, for every integer 1..n-1
    # that either takes: one log and one Stirling error per integer instead of two per term.
    k = np.arange(1.0, n)
    log_k = np.log(k)
    error_k = _stirling_series(k)
    error_k[: _SERIES_FROM - 1] = _STIRLING_TABLE[1:_SERIES_FROM]  # k < 16 (n > 140)
    as_rest = -0.5 * log_k - error_k  # for n - j
    as_j = as_rest - log_k  # for j: -1.5 log j - s(j)
    as_j += constant
    first = n * math.log1p(-x)  # j = 0: x * (1 - x)^n / x
    blocks = [np.array([first])]
    last = math.floor(n * (1.0 - x))
    for start in range(1, last + 1, _CHUNK):
        stop = min(start + _CHUNK, last + 1)
        j = k[start - 1 : stop - 1]
        rest = k[n - stop : n - start][::-1]  # n - j
        terms = as_j[start - 1 : stop - 1] + as_rest[n - stop : n - start][::-1]
        ratio = nx / rest
        usable = ratio < 1.0  # 1 - x - j/n > 0
        if not usable.all():
            j, rest, ratio, terms = j[usable], rest[usable], ratio[usable], terms[usable]
        terms += rest * np.log1p(-ratio)
        terms += (j - 1.0) * np.log1p(nx / j)
        blocks.append(terms)
    log_terms = np.concatenate(blocks)
    significant = log_terms[log_terms > log_terms.max() - _NEGLIGIBLE_NATS]
    return float(np.exp(significant).sum())


# -- Pelz-Good ----------------------------------------------------------------------------------


def _pelz_good_cdf(n: int, x: float) -> float:
    """Pelz-Good approximation of ``P(D_n <= x)``: ``K0(z) + K1(z)/sqrt(n) + K2(z)/n +
    K3(z)/n^1.5`` with ``z = sqrt(n) x``, each ``Ki`` in its theta-function form for small z.
    At most eight terms per series here (z < 1.5): plain floats beat numpy calls."""
    z = math.sqrt(n) * x
    z2 = z * z
    z4, z6 = z2 * z2, z2 * z2 * z2
    log_q = -_PI2 / 8 / z2
    if log_q < _PELZ_GOOD_MIN_LOG:
        return 0.0
    # Coefficients of the polynomials in m^2 = (2k - 1)^2 that multiply q^(m^2).
    c1 = (-z2, _PI2 / 4)
    c2 = (6 * z6 + 2 * z4, (2 * z4 - 5 * z2) * _PI2 / 4, _PI4 * (1 - 2 * z2) / 16)
    c3 = (
        -30 * z6 - 90 * z4 * z4,
        _PI2 * (135 * z4 - 96 * z6) / 4,
        _PI4 * (-60 * z2 + 212 * z4) / 16,
        _PI6 * (5 - 30 * z2) / 64,
    )
    s0 = s1 = s2 = s3 = extra2 = extra3 = 0.0
    for k in range(1, math.ceil(16 * z / math.pi) + 1):
        m2 = (2 * k - 1) ** 2
        odd = math.exp(log_q * m2)  # q^((2k-1)^2), q = exp(-pi^2 / (8 z^2))
        s0 += odd
        s1 += (c1[0] + c1[1] * m2) * odd
        s2 += (c2[0] + (c2[1] + c2[2] * m2) * m2) * odd
        s3 += (c3[0] + (c3[1] + (c3[2] + c3[3] * m2) * m2) * m2) * odd
        k_squared = k * k
        even = math.exp(-_PI2 / 2 / z2 * k_squared)  # q^(4 k^2)
        extra2 += k_squared * even
        extra3 += (3 * z2 - _PI2 * k_squared) * k_squared * even
    big_k0 = _SQRT_2PI * s0 / z
    big_k1 = _SQRT_2PI * s1 / (6 * z4)
    big_k2 = _SQRT_2PI * s2 / (72 * z6 * z) + extra2 * _PI2 * _SQRT_2PI / (-36 * z2 * z)
    big_k3 = _SQRT_2PI * s3 / (6480 * z6 * z4) + extra3 * _PI2 * _SQRT_2PI / (216 * z6)
    root_n = math.sqrt(n)
    return big_k0 + big_k1 / root_n + big_k2 / n + big_k3 / (n * root_n)
