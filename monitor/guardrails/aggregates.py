"""Aggregate rules: a statistic over the last ``window`` decisions, checked every ``every``.

Each decision contributes one value (1/0 for the rates, the score for ``mean_score``, NaN
when it does not count: no score, no label). The windows are anchored to the count of
decisions seen, not to batches, and each window's sum is computed from that window's
values alone, so the result is the same however the stream is cut into batches — and
after a snapshot/restore. Memory is one float per decision of the window.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from monitor.config_guardrails import AggregateRule
from monitor.guardrails.batch import DecisionBatch
from monitor.guardrails.results import AggregateHit

_RATES = ("positive_rate", "missing_rate")
# Values summed at once when windows of scores are summed: bounds the temporary copy.
_SUM_CHUNK = 1 << 20


class AggregateMonitor:
    def __init__(self, rule: AggregateRule) -> None:
        self.rule = rule
        self.window = rule.window
        self.interval = rule.interval
        self.low = -math.inf if rule.min is None else rule.min
        self.high = math.inf if rule.max is None else rule.max
        # Values of the last `window` decisions; NaN before the first ones arrive.
        self.recent = np.full(self.window, np.nan)
        self.seen = 0
        self.firing = False

    def decision_values(self, batch: DecisionBatch) -> np.ndarray:
        rule = self.rule
        if rule.statistic == "mean_score":
            return batch.score
        if rule.statistic == "missing_rate":
            assert rule.feature is not None  # the config guarantees it
            return batch.missing(rule.feature).astype(np.float64)
        by_label = np.where(np.isnan(batch.label), np.nan, batch.label == rule.positive_label)
        by_score = np.where(np.isnan(batch.score), np.nan, batch.score >= rule.score_threshold)
        if rule.positive == "label":
            return by_label
        if rule.positive == "score":
            return by_score
        return np.where(np.isnan(by_label), by_score, by_label)

    def observe(self, batch: DecisionBatch) -> tuple[list[AggregateHit], int]:
        """State changes caused by ``batch``, and how many evaluations were out of bounds."""
        values = self.decision_values(batch)
        first_in_batch = self.seen
        combined = np.concatenate([self.recent, values])
        self.recent = combined[len(combined) - self.window :].copy()
        self.seen += len(values)
        # Windows end after decision e (counted from 0) when e + 1 is a multiple of the
        # interval and at least a full window has been seen.
        earliest = max(first_in_batch, self.window - 1)
        first_end = -(-(earliest + 1) // self.interval) * self.interval - 1
        ends = np.arange(first_end, self.seen, self.interval, dtype=np.int64)
        if ends.size == 0:
            return [], 0
        # combined[0] is decision first_in_batch - window.
        stops = ends - (first_in_batch - self.window) + 1
        sums, counts = self._window_sums(combined, stops)
        evaluated = counts > 0  # a window without a single value says nothing
        ends, sums, counts = ends[evaluated], sums[evaluated], counts[evaluated]
        statistic = sums / counts
        outside = (statistic < self.low) | (statistic > self.high)
        previous = np.concatenate([[self.firing], outside[:-1]])
        hits = [
            AggregateHit(
                rule=self.rule.name,
                statistic=self.rule.statistic,
                value=float(statistic[i]),
                bounds=(self.rule.min, self.rule.max),
                window_end_index=int(ends[i]),
                batch_index=int(ends[i]) - first_in_batch,
                firing=bool(outside[i]),
            )
            for i in np.flatnonzero(outside != previous)
        ]
        if outside.size:
            self.firing = bool(outside[-1])
        return hits, int(outside.sum())

    def _window_sums(self, combined: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, ...]:
        valid = ~np.isnan(combined)
        counting = np.concatenate([[0], np.cumsum(valid, dtype=np.int64)])
        counts = counting[stops] - counting[stops - self.window]
        if self.rule.statistic in _RATES:
            # 0/1 values: integer prefix sums are exact, whatever the batching.
            ones = np.concatenate([[0], np.cumsum(combined == 1.0, dtype=np.int64)])
            return (ones[stops] - ones[stops - self.window]).astype(np.float64), counts
        # Scores: a float prefix sum would round differently for different batch cuts, so
        # each window is summed on its own (cost: window values per evaluation), a bounded
        # number of windows at a time.
        filled = np.where(valid, combined, 0.0)
        views = sliding_window_view(filled, self.window)
        step = max(1, _SUM_CHUNK // self.window)
        sums = [
            views[stops[i : i + step] - self.window].sum(axis=1) for i in range(0, len(stops), step)
        ]
        return np.concatenate(sums), counts

    def snapshot(self) -> dict[str, Any]:
        recent = [None if math.isnan(v) else v for v in self.recent.tolist()]
        return {"seen": self.seen, "firing": self.firing, "recent": recent}

    def restore(self, state: dict[str, Any]) -> None:
        saved = np.array(state["recent"], dtype=np.float64)[-self.window :]
        # A window resized in the config keeps what fits; decisions it never saw are NaN.
        self.recent = np.concatenate([np.full(self.window - len(saved), np.nan), saved])
        self.seen = int(state["seen"])
        self.firing = bool(state["firing"])
