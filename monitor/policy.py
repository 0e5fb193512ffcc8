"""The alert policy: from per-window test results to alerts that do not cry wolf.

1. p-values of one window are corrected together (Benjamini-Hochberg by default), since
   a window tests every feature at once.
2. A (feature, test) pair has drifted when the corrected test is significant **and** the
   effect reaches its minimum size; distance tests (PSI, Wasserstein, Jensen-Shannon)
   need only the effect. Large windows thus never fire on negligible shifts.
3. An alert fires after ``consecutive_windows`` drifted windows in a row and resolves after
   ``resolve_after`` clean ones; a dataset-level alert fires when the share of drifted
   features reaches ``dataset_drift_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors import DriftResult, benjamini_hochberg, bonferroni
from monitor.config_drift import DriftPolicyConfig
from monitor.drift import WindowReport
from monitor.reference import SCORE

DATASET = "__dataset__"


@dataclass(slots=True)
class Verdict:
    column: str
    test: str
    result: DriftResult
    p_corrected: float | None
    drifted: bool
    severity: str


@dataclass(slots=True)
class KeyState:
    drifted_run: int = 0
    clean_run: int = 0
    firing: bool = False
    run_started: float | None = None  # event time of the first window of the drifted run
    run_first: tuple[int, int] | None = None
    severity: str = "warning"  # of the firing alert; its resolution keeps it


@dataclass(slots=True)
class Transition:
    """An alert changing state: fired or resolved."""

    status: str  # "firing" | "resolved"
    column: str
    test: str
    severity: str
    verdict: Verdict | None
    state: KeyState
    drifted_share: float | None = None


class AlertPolicy:
    def __init__(self, config: DriftPolicyConfig) -> None:
        self.config = config
        self.keys: dict[str, KeyState] = {}

    def judge(self, report: WindowReport) -> list[Verdict]:
        flat = [(c, t, r) for c, tests in report.results.items() for t, r in tests.items()]
        p_index = [i for i, (_, _, r) in enumerate(flat) if r.p_value is not None]
        corrected: dict[int, float] = {}
        if p_index:
            raw = np.array([flat[i][2].p_value for i in p_index], dtype=np.float64)
            method = self.config.correction
            adjusted = (
                benjamini_hochberg(raw)
                if method == "bh"
                else bonferroni(raw)
                if method == "bonferroni"
                else raw
            )
            corrected = dict(zip(p_index, adjusted.tolist(), strict=True))
        verdicts = []
        for i, (column, test, result) in enumerate(flat):
            p = corrected.get(i)
            significant = p is None or (result.alpha is not None and p < result.alpha)
            drifted = result.effect_exceeded and significant
            verdicts.append(Verdict(column, test, result, p, drifted, _severity(result)))
        return verdicts

    def step(self, report: WindowReport, verdicts: list[Verdict]) -> list[Transition]:
        transitions = []
        window = report.window
        for verdict in verdicts:
            key = f"{verdict.column}|{verdict.test}"
            changed = self._advance(key, verdict.drifted, window.start_time, window.first)
            if changed:
                state = self.keys[key]
                if changed == "firing":
                    state.severity = verdict.severity
                transitions.append(
                    Transition(
                        changed,
                        verdict.column,
                        verdict.test,
                        state.severity,
                        verdict,
                        self.keys[key],
                    )
                )
        features = {v.column for v in verdicts if v.column != SCORE}
        if features:
            drifted = {v.column for v in verdicts if v.drifted and v.column != SCORE}
            share = len(drifted) / len(features)
            dataset_drifted = share >= self.config.dataset_drift_share
            changed = self._advance(DATASET, dataset_drifted, window.start_time, window.first)
            if changed:
                transitions.append(
                    Transition(
                        changed, DATASET, "share", "critical", None, self.keys[DATASET], share
                    )
                )
        return transitions

    def _advance(
        self, key: str, drifted: bool, started: float, first: tuple[int, int]
    ) -> str | None:
        state = self.keys.setdefault(key, KeyState())
        if drifted:
            if state.drifted_run == 0:
                state.run_started, state.run_first = started, first
            state.drifted_run += 1
            state.clean_run = 0
            if not state.firing and state.drifted_run >= self.config.consecutive_windows:
                state.firing = True
                return "firing"
        else:
            state.clean_run += 1
            state.drifted_run = 0
            if state.firing and state.clean_run >= self.config.resolve_after:
                state.firing = False
                return "resolved"
        return None

    @property
    def firing(self) -> list[str]:
        return [key for key, state in self.keys.items() if state.firing]

    def snapshot(self) -> dict[str, Any]:
        return {
            key: [s.drifted_run, s.clean_run, s.firing, s.run_started, s.run_first, s.severity]
            for key, s in self.keys.items()
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.keys = {
            key: KeyState(d, c, f, started, tuple(first) if first else None, severity)
            for key, (d, c, f, started, first, severity) in state.items()
        }


def _severity(result: DriftResult) -> str:
    """Critical for a major PSI or an effect at least twice its threshold."""
    if result.test == "psi":
        return "critical" if result.explanation.get("severity") == "major" else "warning"
    effect = (
        result.explanation.get("cramers_v", result.statistic)
        if result.test == "chi2"
        else result.statistic
    )
    return "critical" if effect >= 2 * result.threshold else "warning"
