"""Champion-challenger: a model compared with another model that scores the same events.

The challenger's decisions arrive under its own model name with the same event ids. Each
side waits (bounded by ``ttl_seconds`` of event time and ``max_pending``) for the other's
decision on the same id. Matched pairs fill count windows: the agreement rate of the
predicted labels and the distribution of ``challenger score - champion score``. When the
champion's labels arrive, each labelled pair scores both models on the same events;
windows of labelled pairs compare their error rates, and an informational alert fires when
the challenger's error rate is lower by at least ``margin`` for ``consecutive_windows``
windows in a row (it resolves after ``resolve_after`` other windows).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

from monitor import __version__
from monitor.config import Config
from monitor.events import Event, categorical_value
from monitor.labels import Labelled
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord, encode_json
from monitor.streak import Streak, WindowSpan

CHAMPION, CHALLENGER = 0, 1
SIDES = ("champion", "challenger")
# A waiting decision: [event time, predicted label, score (NaN: none), partition, offset,
# true label once it arrived (champion side only)].
Waiting = list[Any]
# A matched pair waiting for its label: [event time, champion label, challenger label,
# partition, offset].
Pair = list[Any]


class ChallengerMonitor:
    def __init__(self, model: str, config: Config, metrics: Metrics) -> None:
        spec = config.models[model].challenger
        assert spec is not None
        self.model = model
        self.challenger = spec.model
        self.config = spec
        self.alerts_topic = config.topics.alerts
        self.metrics = metrics
        self.thresholds = (
            config.models[model].concept.decision_threshold,
            config.models[spec.model].concept.decision_threshold,
        )
        self.pending: tuple[OrderedDict[str, Waiting], OrderedDict[str, Waiting]] = (
            OrderedDict(),
            OrderedDict(),
        )
        self.watermark = float("-inf")
        self.tracks_labels = config.topics.labels is not None
        self.awaiting: OrderedDict[str, Pair] = OrderedDict()
        self.label_ttl = config.labels.ttl_seconds
        self.label_max_pending = config.labels.max_pending
        self.labelled_size = spec.labelled_window or spec.window
        self.span = WindowSpan(f"matched-{spec.window}")
        self.labelled_span = WindowSpan(f"labelled-{self.labelled_size}")
        self.agree = 0
        self.diffs: list[float] = []
        self.errors = [0, 0]
        self.streak = Streak()

    # -- input ------------------------------------------------------------------------
    def add(self, side: int, events: list[Event]) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        mine, theirs = self.pending[side], self.pending[1 - side]
        matched = 0
        for event in events:
            predicted = self._predicted(event, self.thresholds[side])
            if predicted is None:
                continue
            self.watermark = max(self.watermark, event.ts)
            score = (event.prediction or {}).get("score")
            score = score if isinstance(score, float) else math.nan
            waiting = [event.ts, predicted, score, event.partition, event.offset, None]
            other = theirs.pop(event.id, None)
            if other is None:
                mine.setdefault(event.id, waiting)  # a repeated decision keeps the first
                continue
            champion, challenger = (waiting, other) if side == CHAMPION else (other, waiting)
            outputs += self._matched(event.id, champion, challenger)
            matched += 1
        if matched:
            self.metrics.challenger_matched.labels(self.model, self.challenger).inc(matched)
        self._expire()
        return outputs

    def add_labelled(self, items: list[Labelled]) -> list[OutputRecord]:
        """The champion's labelled decisions (the truth is about the event, not the model)."""
        outputs: list[OutputRecord] = []
        for item in items:
            if item.truth is None:
                continue
            pair = self.awaiting.pop(item.id, None)
            if pair is not None:
                outputs += self._scored(pair, item.truth)
                continue
            waiting = self.pending[CHAMPION].get(item.id)
            if waiting is not None:
                waiting[5] = item.truth  # scored once the challenger's decision comes
        return outputs

    @staticmethod
    def _predicted(event: Event, threshold: float) -> str | None:
        prediction = event.prediction
        if prediction is None:
            return None
        label = prediction.get("label")
        if label is not None:
            return categorical_value(label)
        score = prediction.get("score")
        if not isinstance(score, float):
            return None
        return "1" if score >= threshold else "0"

    def _matched(self, key: str, champion: Waiting, challenger: Waiting) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        ts, partition, offset = champion[0], champion[3], champion[4]
        self.agree += champion[1] == challenger[1]
        difference = challenger[2] - champion[2]
        if math.isfinite(difference):
            self.diffs.append(difference)
        self.span.add(ts, partition, offset)
        if self.span.n >= self.config.window:
            self._close_matched()
        pair = [ts, champion[1], challenger[1], partition, offset]
        if champion[5] is not None:
            outputs += self._scored(pair, champion[5])
        elif self.tracks_labels:
            self.awaiting[key] = pair
        return outputs

    def _scored(self, pair: Pair, truth: str) -> list[OutputRecord]:
        ts, champion, challenger, partition, offset = pair
        self.errors[CHAMPION] += champion != truth
        self.errors[CHALLENGER] += challenger != truth
        self.labelled_span.add(ts, partition, offset)
        if self.labelled_span.n >= self.labelled_size:
            return self._close_labelled()
        return []

    def _expire(self) -> None:
        horizon = self.watermark - self.config.ttl_seconds
        for side, pending in enumerate(self.pending):
            dropped = 0
            while pending:
                ts = next(iter(pending.values()))[0]
                if ts >= horizon and len(pending) <= self.config.max_pending:
                    break
                pending.popitem(last=False)
                dropped += 1
            if dropped:
                self.metrics.challenger_unmatched.labels(
                    self.model, self.challenger, SIDES[side]
                ).inc(dropped)
        label_horizon = self.watermark - self.label_ttl
        while self.awaiting:
            ts = next(iter(self.awaiting.values()))[0]
            if ts >= label_horizon and len(self.awaiting) <= self.label_max_pending:
                break
            self.awaiting.popitem(last=False)

    # -- windows ----------------------------------------------------------------------
    def _close_matched(self) -> None:
        pair = (self.model, self.challenger)
        m = self.metrics
        m.challenger_windows.labels(*pair, "decisions").inc()
        m.challenger_agreement.labels(*pair).set(self.agree / self.span.n)
        if self.diffs:
            diffs = np.asarray(self.diffs)
            p05, p50, p95 = np.percentile(diffs, [5, 50, 95]).tolist()
            stats = {"mean": float(diffs.mean()), "p05": p05, "p50": p50, "p95": p95}
            for name, value in stats.items():
                m.challenger_score_difference.labels(*pair, name).set(value)
        self.agree = 0
        self.diffs = []
        self.span.next()

    def _close_labelled(self) -> list[OutputRecord]:
        pair = (self.model, self.challenger)
        n = self.labelled_span.n
        rates = [self.errors[CHAMPION] / n, self.errors[CHALLENGER] / n]
        self.metrics.challenger_windows.labels(*pair, "labelled").inc()
        for role, rate in zip(SIDES, rates, strict=True):
            self.metrics.challenger_error_rate.labels(*pair, role).set(rate)
        window = self.labelled_span.body()
        better = rates[CHAMPION] - rates[CHALLENGER] >= self.config.margin
        status = self.streak.step(
            better, window, self.config.consecutive_windows, self.config.resolve_after
        )
        self.errors = [0, 0]
        self.labelled_span.next()
        if status is None:
            return []
        return [self._alert(status, rates, window)]

    def _alert(self, status: str, rates: list[float], window: dict[str, Any]) -> OutputRecord:
        advantage = rates[CHAMPION] - rates[CHALLENGER]
        body: dict[str, Any] = {
            "dedup_key": f"driftd/challenger/{self.model}/{self.challenger}",
            "status": status,
            "kind": "challenger",
            "severity": "info",
            "model": self.model,
            "challenger": self.challenger,
            "feature": None,
            "test": "error_rate",
            "statistic": advantage,
            "margin": self.config.margin,
            "champion_error_rate": rates[CHAMPION],
            "challenger_error_rate": rates[CHALLENGER],
            "consecutive_windows": self.config.consecutive_windows,
            "window": window,
            "better_since": self.streak.started,
            "summary": (
                f"Challenger {self.challenger} beats {self.model}: error "
                f"{rates[CHALLENGER]:.1%} vs {rates[CHAMPION]:.1%}"
            ),
            "driftd_version": __version__,
        }
        self.metrics.alerts.labels(self.model, "challenger", status, "info").inc()
        firing = self.metrics.alerts_firing.labels(self.model, "challenger")
        firing.inc() if status == "firing" else firing.dec()
        return OutputRecord(self.alerts_topic, encode_json(body), body["dedup_key"].encode())

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "challenger": self.challenger,
            "pending": [[[key, *value] for key, value in side.items()] for side in self.pending],
            "awaiting": [[key, *value] for key, value in self.awaiting.items()],
            "watermark": self.watermark,
            "matched": [self.span.snapshot(), self.agree, self.diffs],
            "labelled": [self.labelled_span.snapshot(), self.errors],
            "streak": self.streak.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        for side, items in zip(self.pending, state["pending"], strict=True):
            side.clear()
            side.update((item[0], list(item[1:])) for item in items)
        self.awaiting = OrderedDict((item[0], list(item[1:])) for item in state["awaiting"])
        self.watermark = state["watermark"]
        span, self.agree, diffs = state["matched"]
        self.span.restore(span)
        self.diffs = list(diffs)
        span, errors = state["labelled"]
        self.labelled_span.restore(span)
        self.errors = list(errors)
        self.streak = Streak.restore(state["streak"])
        if self.streak.firing:
            self.metrics.alerts_firing.labels(self.model, "challenger").inc()

    def release(self) -> None:
        if self.streak.firing:
            self.metrics.alerts_firing.labels(self.model, "challenger").dec()
