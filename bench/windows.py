"""Per-window drift computation: driftd's detectors vs scipy on identical windows.

Reference 10 000 rows vs current 10 000 rows, 20 numeric + 3 categorical columns, a mild
shift on a few columns. driftd runs KS + PSI on each numeric column and chi-square + PSI on
each categorical one, exactly as a closed window is tested in the daemon (detectors built
once on the reference, then only tested). scipy runs ``ks_2samp`` and
``chi2_contingency``. The statistics and p-values are compared.

driftd remembers Kolmogorov tail probabilities it computed (the statistic takes few
distinct values for fixed sizes); every timed repetition here starts with that memory
empty, so the figure is the cold cost of a window.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from detectors import CurrentSample
from detectors import ks as ks_module
from monitor.config_drift import DetectorsConfig
from monitor.reference import ColumnReference, build_detectors

ROWS = 10_000
NUMERIC = 20
CATEGORIES = [5, 4, 3]


def make_windows(seed: int = 3) -> dict[str, np.ndarray]:
    """Reference and current columns; categorical ones as integer codes."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for i in range(NUMERIC):
        shift = 0.1 * (i % 4 == 0)
        out[f"ref_f{i:02d}"] = rng.normal(0.0, 1.0, ROWS).round(4)
        out[f"cur_f{i:02d}"] = rng.normal(shift, 1.0, ROWS).round(4)
    for j, k in enumerate(CATEGORIES):
        p = np.arange(1, k + 1) / np.arange(1, k + 1).sum()
        q = p[::-1] if j == 0 else p
        out[f"ref_c{j}"] = rng.choice(k, ROWS, p=p)
        out[f"cur_c{j}"] = rng.choice(k, ROWS, p=q)
    return out


def save(windows: dict[str, np.ndarray], path: Path) -> Path:
    np.savez(path, **windows)  # type: ignore[arg-type]  # numpy's stub mistypes **arrays
    return path


class DriftdWindow:
    def __init__(self, w: dict[str, np.ndarray]) -> None:
        settings = DetectorsConfig()
        self.numeric = []
        for i in range(NUMERIC):
            name = f"f{i:02d}"
            column = ColumnReference.numeric_from_sample(w[f"ref_{name}"])
            detectors = build_detectors(column, ["ks", "psi"], settings)
            self.numeric.append((w[f"cur_{name}"], detectors))
        self.categorical = []
        for j, k in enumerate(CATEGORIES):
            counts = np.bincount(w[f"ref_c{j}"], minlength=k)
            column = ColumnReference(
                "categorical",
                int(counts.sum()),
                categories=[str(c) for c in range(k)],
                counts=counts,
            )
            detectors = build_detectors(column, ["chi2", "psi"], settings)
            self.categorical.append((w[f"cur_c{j}"], k, detectors))

    def run(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for i, (current, detectors) in enumerate(self.numeric):
            sample = CurrentSample(current)  # as the daemon does: once for the column's tests
            results[f"f{i:02d}"] = {t: d.test(sample) for t, d in detectors.items()}
        for j, (codes, k, detectors) in enumerate(self.categorical):
            counts = np.bincount(codes, minlength=k + 1)  # + the unseen bucket
            results[f"c{j}"] = {t: d.test_counts(counts) for t, d in detectors.items()}
        return results


def scipy_window(w: dict[str, np.ndarray], method: str = "auto") -> dict[str, Any]:
    results: dict[str, Any] = {}
    for i in range(NUMERIC):
        name = f"f{i:02d}"
        results[name] = stats.ks_2samp(w[f"ref_{name}"], w[f"cur_{name}"], method=method)
    for j, k in enumerate(CATEGORIES):
        table = np.vstack(
            [np.bincount(w[f"ref_c{j}"], minlength=k), np.bincount(w[f"cur_c{j}"], minlength=k)]
        )
        results[f"c{j}"] = stats.chi2_contingency(table)
    return results


def best_time(function: Any, repeat: int, before: Any = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def run(repeat: int = 15) -> dict[str, Any]:
    w = make_windows()
    driftd = DriftdWindow(w)
    cold = ks_module._kstwo_sf.cache_clear
    driftd_s = best_time(driftd.run, repeat, before=cold)
    scipy_s = best_time(lambda: scipy_window(w), max(3, repeat // 3))
    scipy_asymp_s = best_time(lambda: scipy_window(w, "asymp"), max(3, repeat // 3))
    cold()
    ours = driftd.run()
    reference = scipy_window(w, "asymp")
    worst = 0.0
    for name, result in reference.items():
        test = "ks" if name.startswith("f") else "chi2"
        mine = ours[name][test]
        worst = max(worst, abs(mine.statistic - result.statistic))
        worst = max(worst, abs(mine.p_value - result.pvalue))
    return {
        "driftd_seconds": driftd_s,
        "scipy_seconds": scipy_s,
        "scipy_asymp_seconds": scipy_asymp_s,
        "max_abs_difference": worst,
        "windows": w,
    }
