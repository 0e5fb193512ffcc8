"""Per-window statistics for replay and reports: each test's result and, per feature, the
current window's histogram on the reference's bins (numeric) or categories.

Only computed when an observer is set (``driftd replay``), so the daemon pays nothing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from monitor.alerts import window_body
from monitor.drift import DriftMonitor, WindowReport
from monitor.policy import Verdict


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def window_stats(
    model: str,
    segment: str,
    monitor: DriftMonitor,
    report: WindowReport,
    verdicts: list[Verdict],
) -> dict[str, Any]:
    return {
        "kind": "window",
        "model": model,
        "segment": segment or None,
        "window": window_body(report.window),
        "reference": {"source": monitor.reference.kind, "id": monitor.reference.ident},
        "tests": [
            {
                "feature": v.column,
                "test": v.test,
                "statistic": _number(v.result.statistic),
                "p_value": _number(v.result.p_value),
                "p_value_corrected": _number(v.p_corrected),
                "threshold": _number(v.result.threshold),
                "drifted": v.drifted,
            }
            for v in verdicts
        ],
        "histograms": histograms(monitor, report),
    }


def histograms(monitor: DriftMonitor, report: WindowReport) -> dict[str, Any]:
    """Reference and current proportions per feature, on the reference's own bins."""
    columns = monitor.reference.columns or {}
    out: dict[str, Any] = {}
    for name in report.results:
        column = columns.get(name)
        values = report.window.rows.get(name)
        if column is None or values is None:
            continue
        if column.kind == "numeric" and column.edges is not None:
            proportions = np.asarray(column.proportions, float)
            edges = np.asarray(column.edges, float)
            if len(edges) == len(proportions) + 1:  # outer edges given: they are open
                edges = edges[1:-1]
            finite = values[np.isfinite(values)]
            # The detector's bins: below the first inner edge, between edges, above the last.
            bins = np.searchsorted(edges, finite, side="right")
            current = np.bincount(bins, minlength=len(edges) + 1)
            total = max(int(current.sum()), 1)
            out[name] = {
                "kind": "numeric",
                "inner_edges": [float(e) for e in edges],
                "reference": [float(p) for p in proportions],
                "current": [float(c) / total for c in current],
            }
        elif column.kind == "categorical" and column.counts is not None:
            counts = monitor.coders[name].counts_against(
                values, column.categories, column.unknown_to
            )
            ref = np.asarray(column.counts, float)
            labels = [*column.categories, "(unseen)"][: len(counts)]
            out[name] = {
                "kind": "categorical",
                "categories": labels,
                "reference": [float(c) / max(float(ref.sum()), 1.0) for c in ref]
                + [0.0] * (len(counts) - len(ref)),
                "current": [float(c) / max(float(counts.sum()), 1.0) for c in counts],
            }
    return out
