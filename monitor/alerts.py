"""Alert records: the JSON events written to the alerts topic.

Every alert carries a deterministic ``dedup_key``, so a consumer (and every notifier)
can collapse repeats: the same incident always has the same key, and ``status`` moves
from ``firing`` to ``resolved``.
"""

from __future__ import annotations

from typing import Any

from detectors.fairness import Disparity
from monitor import __version__
from monitor.drift import ReferenceSource
from monitor.outputs import OutputRecord, encode_json
from monitor.policy import DATASET, Transition
from monitor.windows import ClosedWindow


def dedup_key(model: str, segment: str, window: str, column: str, test: str) -> str:
    parts = ["data_drift", model, segment or "all", column, test, window]
    return "driftd/" + "/".join(parts)


def window_body(window: ClosedWindow) -> dict[str, Any]:
    return {
        "name": window.name,
        "index": window.index,
        "events": window.n,
        "start_time": window.start_time,
        "end_time": window.end_time,
        "start": {"partition": window.first[0], "offset": window.first[1]},
        "end": {"partition": window.last[0], "offset": window.last[1]},
    }


def drift_alert(
    model: str,
    segment: str,
    reference: ReferenceSource,
    window: ClosedWindow,
    transition: Transition,
    correction: str,
) -> dict[str, Any]:
    column = transition.column
    test = transition.test
    body: dict[str, Any] = {
        "dedup_key": dedup_key(model, segment, window.name, column, test),
        "status": transition.status,
        "kind": "dataset_drift" if column == DATASET else "data_drift",
        "severity": transition.severity,
        "model": model,
        "segment": segment or None,
        "feature": None if column == DATASET else column,
        "test": test,
        "window": window_body(window),
        "drift_started": {
            "time": transition.state.run_started,
            "partition": transition.state.run_first[0] if transition.state.run_first else None,
            "offset": transition.state.run_first[1] if transition.state.run_first else None,
        },
        "reference": {"source": reference.kind, "id": reference.ident},
        "driftd_version": __version__,
    }
    verdict = transition.verdict
    if verdict is not None:
        result = verdict.result
        body.update(
            statistic=result.statistic,
            p_value=result.p_value,
            p_value_corrected=verdict.p_corrected,
            correction=correction if result.p_value is not None else None,
            alpha=result.alpha,
            threshold=result.threshold,
            n_reference=result.n_reference,
            n_current=result.n_current,
            explanation=result.explanation,
        )
    else:
        body.update(statistic=transition.drifted_share, threshold=None)
    return body


def summarize(alert: dict[str, Any]) -> str:
    """One human line for an alert: for terminals, chat messages and incident titles."""
    kind = alert.get("kind", "alert")
    model = alert.get("model", "?")
    status = alert.get("status", "firing")
    if kind == "dataset_drift":
        share = alert.get("statistic") or 0.0
        what = f"Dataset drift on {model}: {share:.0%} of features drifted"
    elif kind == "data_drift":
        where = alert.get("feature") or "?"
        if alert.get("segment"):
            where = f"{where} [{alert['segment']}]"
        stat = alert.get("statistic")
        value = f"{alert.get('test')}={stat:.3g}" if isinstance(stat, float) else alert.get("test")
        what = f"Data drift on {model}/{where} ({value})"
    elif kind == "concept_drift":
        what = _concept_summary(alert, model)
    elif kind == "guardrail":
        what = f"Guardrail {alert.get('rule')} on {model}"
        if isinstance(alert.get("value"), float):
            what += f" ({alert.get('statistic')}={alert['value']:.3g})"
    else:
        what = str(alert.get("summary") or f"{kind} on {model}")
    return what if status == "firing" else f"Resolved: {what}"


def _concept_summary(alert: dict[str, Any], model: str) -> str:
    before, after = alert.get("mean_before"), alert.get("mean_after")
    test = alert.get("test")
    if alert.get("signal") == "error":
        what = f"Concept drift on {model}: error"
        if isinstance(before, float) and isinstance(after, float):
            what += f" {before:.1%} -> {after:.1%}"
    else:
        what = f"Prediction drift on {model}: mean score"
        if isinstance(before, float) and isinstance(after, float):
            what += f" {before:.3g} -> {after:.3g}"
    return f"{what} ({test})"


def event_time(alert: dict[str, Any]) -> float | None:
    """When, in event time, an alert's evidence ends: window end, detection, or example."""
    for section, key in (("window", "end_time"), ("detected_at", "time"), ("example", "ts")):
        value = (alert.get(section) or {}).get(key)
        if isinstance(value, int | float):
            return float(value)
    value = alert.get("last_detection_time")
    return float(value) if isinstance(value, int | float) else None


def alert_record(body: dict[str, Any], topic: str) -> OutputRecord:
    return OutputRecord(topic, encode_json(body), body["dedup_key"].encode())


def fairness_alert(
    model: str,
    attribute: str,
    source: str,
    metric: str,
    status: str,
    disparity: Disparity,
    bound: float,
    groups: tuple[str | None, str | None],
    compared_rate: str | None,
    rates: dict[str, dict[str, dict[str, Any]]],
    window: dict[str, Any],
    confidence: float,
    min_group_size: int,
    started: Any,
) -> dict[str, Any]:
    """A fairness metric's alert: the groups compared, every group's rate, the window."""
    lowest, highest = groups
    return {
        "dedup_key": f"driftd/fairness/{model}/{attribute}/{metric}",
        "status": status,
        "kind": "fairness",
        "severity": "warning",
        "model": model,
        "attribute": attribute,
        "attribute_source": source,
        "feature": attribute if source == "feature" else None,
        "metric": metric,
        "test": metric,
        "statistic": disparity.value,
        "bound": bound,
        "violates_when": "below" if metric == "disparate_impact" else "above",
        "compared_rate": compared_rate,
        "lowest_group": lowest,
        "highest_group": highest,
        "separated_intervals": disparity.separated,
        "confidence": confidence,
        "min_group_size": min_group_size,
        "rates": rates,
        "window": window,
        "violation_started": started,
        "summary": _fairness_summary(model, attribute, metric, disparity.value, lowest, highest),
        "driftd_version": __version__,
    }


def _fairness_summary(
    model: str, attribute: str, metric: str, value: float | None, low: str | None, high: str | None
) -> str:
    name = {
        "disparate_impact": "disparate impact",
        "equal_opportunity": "equal-opportunity gap",
        "equalized_odds": "equalised-odds gap",
    }[metric]
    if value is None:
        return f"Fairness on {model}/{attribute}: {name} (insufficient data)"
    return f"Fairness on {model}/{attribute}: {name} {value:.3g} ({low} vs {high})"
