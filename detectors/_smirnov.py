"""Survival function of the two-sided one-sample Kolmogorov distribution, ``P(D_n >= x)``,
equal to ``scipy.stats.kstwo.sf(x, n)`` but fast where scipy is slow.

For ``n > 140`` and ``n x^2 >= 2.2`` (or ``x >= 0.5``) scipy's ``kstwo`` answers
``2 * scipy.special.smirnov(n, x)`` clipped to [0, 1], except exactly 0 when ``x < 0.5`` and
``n x^2 >= 370``, and ``2 (1 - x)^n`` when ``n x >= n - 1``. ``smirnov`` adds the
``n (1 - x)`` terms of the Birnbaum-Tingey sum one by one in double-double arithmetic:
several milliseconds for a window of thousands of values, paid on exactly the windows that
drifted. Here the same exact sum is evaluated at once in
numpy::

    P(D+_n >= x) = x * sum_{j=0}^{floor(n(1-x))} C(n, j) (1 - x - j/n)^(n-j) (x + j/n)^(j-1)

Each term is taken in log space, with the binomial coefficient written through Stirling's
series so that the large ``log n!`` parts cancel analytically instead of numerically::

    log C(n, j) + (n-j) log(1 - x - j/n) + (j-1) log(x + j/n)
      = 1.5 log n - 0.5 log(n-j) - 1.5 log j - log sqrt(2 pi)
        + s(n) - s(j) - s(n-j) + (n-j) log1p(-nx/(n-j)) + (j-1) log1p(nx/j)

where ``s(k) = log k! - (k + 1/2) log k + k - log sqrt(2 pi)`` is Stirling's error (its
asymptotic series above 15, a recurrence below). Terms whose base ``1 - x - j/n`` is not
positive (zero in exact arithmetic, rounding aside) are dropped, as scipy drops them.
The result agrees with scipy to about 1e-13 relative (tests/detectors/test_smirnov.py checks
a grid of ``n`` and ``x``). Like scipy, for ``n`` above one million the closed form
``exp(-(6nx + 1)^2 / (18 n))`` is used instead of the sum.

Everything else (small ``n``, ``n x^2 < 2.2`` where scipy uses other formulas, ``x`` at the
ends of [0, 1]) is delegated to ``scipy.stats.kstwo.sf`` itself.

>>> from scipy import stats
>>> p = kolmogorov_sf(0.04, 5_000)
>>> f"{p:.6e}", bool(abs(p - stats.kstwo.sf(0.04, 5_000)) < 1e-18)
('2.180559e-07', True)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

# Branch points of scipy's kolmogn survival function and of special.smirnov.
_EXACT_MIN_N = 141
_MIN_NX_SQUARED = 2.2
_ZERO_NX_SQUARED = 370.0
_APPROXIMATE_ABOVE_N = 1_000_000
_CHUNK = 1 << 16  # terms per vectorised block: bounds the memory for very large n

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SERIES_FROM = 16


def _stirling_series(k: np.ndarray) -> np.ndarray:
    # Terms up to k^-9; the first omitted one is below 2e-16 for k >= 16.
    inverse_square = 1.0 / (k * k)
    return (
        1 / 12
        - inverse_square
        * (
            1 / 360
            - inverse_square * (1 / 1260 - inverse_square * (1 / 1680 - inverse_square / 1188))
        )
    ) / k


def _stirling_table() -> np.ndarray:
    # s(k) = s(k + 1) + (k + 1/2) log(1 + 1/k) - 1, from log (k+1)! = log k! + log(k + 1).
    table = np.zeros(_SERIES_FROM + 1)
    table[_SERIES_FROM] = _stirling_series(np.array([float(_SERIES_FROM)]))[0]
    for k in range(_SERIES_FROM - 1, 0, -1):
        table[k] = table[k + 1] + (k + 0.5) * math.log1p(1.0 / k) - 1.0
    return table


_STIRLING_TABLE = _stirling_table()


def _stirling_error(k: np.ndarray) -> np.ndarray:
    """Stirling's error s(k) for integer k >= 1 (as float64)."""
    small = k < _SERIES_FROM
    out = _stirling_series(np.where(small, float(_SERIES_FROM), k))
    if small.any():
        out[small] = _STIRLING_TABLE[k[small].astype(np.intp)]
    return out


def smirnov_sf(n: int, x: float) -> float:
    """One-sided ``P(D+_n >= x)`` for ``n >= 2`` and ``1/n < x < 1`` (exact sum, vectorised)."""
    if n > _APPROXIMATE_ABOVE_N:
        # Same closed form as scipy.special.smirnov past its exact-computation limit.
        log_p = -((6.0 * n * x + 1.0) ** 2) / 18.0 / n
        return math.exp(log_p) if log_p < -math.log(2.0) else 1.0 + math.expm1(log_p)
    nx = n * x
    log_x = math.log(x)
    constant = 1.5 * math.log(n) - _LOG_SQRT_2PI + float(_stirling_error(np.array([float(n)]))[0])
    total = math.exp(n * math.log1p(-x))  # j = 0: x * (1 - x)^n * x^-1
    last = math.floor(n * (1.0 - x))
    for start in range(1, last + 1, _CHUNK):
        j = np.arange(start, min(start + _CHUNK, last + 1), dtype=np.float64)
        rest = n - j
        ratio = nx / rest
        usable = ratio < 1.0  # 1 - x - j/n > 0
        if not usable.all():
            j, rest, ratio = j[usable], rest[usable], ratio[usable]
        log_terms = (
            constant
            + log_x
            - 0.5 * np.log(rest)
            - 1.5 * np.log(j)
            - _stirling_error(j)
            - _stirling_error(rest)
            + rest * np.log1p(-ratio)
            + (j - 1.0) * np.log1p(nx / j)
        )
        total += float(np.exp(log_terms).sum())
    return min(max(total, 0.0), 1.0)


def kolmogorov_sf(x: float, n: float) -> float:
    """``scipy.stats.kstwo.sf(x, n)`` clipped to [0, 1]; computed here where scipy is slow."""
    size = int(n)
    # The same arithmetic and order as scipy's branch tests, so both pick the same formula.
    if size == n and size >= _EXACT_MIN_N and 0.0 < x < 1.0 and size * x < size - 1:
        if x >= 0.5:
            return min(max(2.0 * smirnov_sf(size, x), 0.0), 1.0)
        nx_squared = size * x * x
        if nx_squared >= _ZERO_NX_SQUARED:
            return 0.0
        if nx_squared >= _MIN_NX_SQUARED:
            return min(max(2.0 * smirnov_sf(size, x), 0.0), 1.0)
    return float(np.clip(stats.kstwo.sf(x, n), 0.0, 1.0))
