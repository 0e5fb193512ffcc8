"""Group fairness of one model inside one task: decision rates and error rates per group.

Decisions are counted per protected attribute and group over count windows; when a window
closes, each group's positive-decision rate gets a Wilson interval and the disparate
impact (lowest rate / highest rate among groups with at least ``min_group_size``
decisions) is compared with its bound. Once labels arrive, labelled decisions fill
windows of their own for the true- and false-positive rates per group and the
equal-opportunity and equalised-odds gaps. A metric violates in a window when it is past
its bound and (by default) the two groups compared have non-overlapping intervals;
alerts follow the usual rule: fire after ``consecutive_windows`` violating windows,
resolve after ``resolve_after`` others. The pooled ``__other__`` group (values past
``max_groups``) is reported but never compared: it mixes groups.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from detectors.fairness import (
    Disparity,
    GroupRates,
    disparate_impact,
    equalized_odds_gap,
    group_rates,
    rate_gap,
)
from monitor.alerts import alert_record, fairness_alert
from monitor.config import Config
from monitor.config_fairness import fairness_window
from monitor.events import Event, categorical_value
from monitor.labels import Labelled
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord
from monitor.streak import Streak, WindowSpan

OTHER = "__other__"
# Counter rows: decision windows count decisions and positives per group; labelled
# windows actual positives, true positives, actual negatives and false positives.
DECISION_ROWS = ("decisions", "positives")
LABELLED_ROWS = ("positives", "true_positives", "negatives", "false_positives")
PendingLabel = tuple[float, bool, list[int]]  # event time, predicted positive, group codes


class FairnessMonitor:
    def __init__(
        self,
        model: str,
        config: Config,
        metrics: Metrics,
        observer: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        model_config = config.models[model]
        # Receives one flat record per window and metric (replay's windows.jsonl, the report).
        self.observer = observer
        fairness = model_config.fairness
        assert fairness is not None
        self.model = model
        self.config = fairness
        self.alerts_topic = config.topics.alerts
        self.metrics = metrics
        self.threshold = model_config.concept.decision_threshold
        self.attributes = list(fairness.attributes)
        self.other = fairness.max_groups  # the code of the pooled group
        self.width = fairness.max_groups + 1
        self.groups: dict[str, dict[str, int]] = {a: {} for a in self.attributes}
        self.size = fairness_window(fairness, model_config.windows)
        self.labelled_size = fairness.labelled_window or self.size
        self.decisions = self._zeros(DECISION_ROWS)
        self.labelled = self._zeros(LABELLED_ROWS)
        self.span = WindowSpan(f"decisions-{self.size}")
        self.labelled_span = WindowSpan(f"labelled-{self.labelled_size}")
        self.tracks_labels = fairness.label_metrics and config.topics.labels is not None
        # Decisions waiting for their label, bounded like the label join itself.
        self.pending: OrderedDict[str, PendingLabel] = OrderedDict()
        self.max_pending = config.labels.max_pending
        self.ttl_seconds = config.labels.ttl_seconds
        self.watermark = float("-inf")
        self.streaks: dict[str, Streak] = {}

    def _zeros(self, rows: tuple[str, ...]) -> dict[str, list[list[int]]]:
        return {a: [[0] * self.width for _ in rows] for a in self.attributes}

    # -- input ------------------------------------------------------------------------
    def add(self, events: list[Event]) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        for event in events:
            positive = self._positive(event)
            if positive is None:
                continue
            codes = [self._code(a, self._value(event, a)) for a in self.attributes]
            for attribute, code in zip(self.attributes, codes, strict=True):
                if code >= 0:
                    counts = self.decisions[attribute]
                    counts[0][code] += 1
                    counts[1][code] += positive
            if self.tracks_labels:
                self.pending[event.id] = (event.ts, positive, codes)
                self.pending.move_to_end(event.id)
                self.watermark = max(self.watermark, event.ts)
            self.span.add(event.ts, event.partition, event.offset)
            if self.span.n >= self.size:
                outputs += self._close_decisions()
        self._expire()
        return outputs

    def add_labelled(self, items: list[Labelled]) -> list[OutputRecord]:
        outputs: list[OutputRecord] = []
        positive_label = self.config.positive_label
        for item in items:
            waiting = self.pending.pop(item.id, None)
            if waiting is None or item.truth is None:
                continue
            _, predicted, codes = waiting
            actual = item.truth == positive_label
            for attribute, code in zip(self.attributes, codes, strict=True):
                if code >= 0:
                    counts = self.labelled[attribute]
                    base = 0 if actual else 2  # positives/true positives or negatives/FPs
                    counts[base][code] += 1
                    counts[base + 1][code] += predicted
            self.labelled_span.add(item.ts, item.partition, item.offset)
            if self.labelled_span.n >= self.labelled_size:
                outputs += self._close_labelled()
        return outputs

    def _positive(self, event: Event) -> bool | None:
        prediction = event.prediction
        if prediction is None:
            return None
        label = prediction.get("label")
        if label is not None:
            return categorical_value(label) == self.config.positive_label
        score = prediction.get("score")
        return score >= self.threshold if isinstance(score, float) else None

    def _value(self, event: Event, attribute: str) -> Any:
        source: Any = event.attributes if self.config.attributes[attribute] == "attribute" else None
        if source is None and self.config.attributes[attribute] == "feature":
            source = event.features
        return source.get(attribute) if source is not None else None

    def _code(self, attribute: str, value: Any) -> int:
        if value is None:
            return -1  # no value: not counted for this attribute
        table = self.groups[attribute]
        code = table.get(value)
        if code is None:
            if len(table) >= self.config.max_groups:
                return self.other
            code = table[value] = len(table)
        return code

    def _expire(self) -> None:
        horizon = self.watermark - self.ttl_seconds
        pending = self.pending
        while pending:
            ts = next(iter(pending.values()))[0]
            if ts >= horizon and len(pending) <= self.max_pending:
                break
            pending.popitem(last=False)

    # -- windows ----------------------------------------------------------------------
    def _names(self, attribute: str) -> list[str]:
        names = [""] * self.width
        for value, code in self.groups[attribute].items():
            names[code] = value
        names[self.other] = OTHER
        return names

    def _eligible(self, attribute: str) -> np.ndarray:
        eligible = np.zeros(self.width, dtype=bool)
        eligible[: len(self.groups[attribute])] = True
        return eligible

    def _rates(self, successes: list[int], trials: list[int]) -> GroupRates:
        return group_rates(
            successes,
            trials,
            min_group_size=self.config.min_group_size,
            confidence=self.config.confidence,
        )

    def _close_decisions(self) -> list[OutputRecord]:
        window = self.span.body()
        self.metrics.fairness_windows.labels(self.model, "decisions").inc()
        outputs = []
        for attribute in self.attributes:
            trials, positives = self.decisions[attribute]
            rates = self._rates(positives, trials)
            names = self._names(attribute)
            for code in self._shown(attribute, rates):
                labels = (self.model, attribute, names[code])
                shown = rates.rate[code] if rates.sufficient[code] else float("nan")
                self.metrics.fairness_positive_rate.labels(*labels).set(shown)
                self.metrics.fairness_group_decisions.labels(*labels).set(trials[code])
            di = disparate_impact(rates, self._eligible(attribute))
            gauge = self.metrics.fairness_disparate_impact.labels(self.model, attribute)
            gauge.set(di.value if di.value is not None else float("nan"))
            if "disparate_impact" in self.config.metrics:
                bound = self.config.disparate_impact_min
                violated = di.value is not None and di.value < bound and self._clear(di)
                table = {"positive_rate": self._table(attribute, rates)}
                outputs += self._judge(
                    attribute, "disparate_impact", violated, di, bound, table, window
                )
        self.decisions = self._zeros(DECISION_ROWS)
        self.span.next()
        return outputs

    def _close_labelled(self) -> list[OutputRecord]:
        window = self.labelled_span.body()
        self.metrics.fairness_windows.labels(self.model, "labelled").inc()
        outputs = []
        for attribute in self.attributes:
            positives, true_positives, negatives, false_positives = self.labelled[attribute]
            tpr = self._rates(true_positives, positives)
            fpr = self._rates(false_positives, negatives)
            names = self._names(attribute)
            for code in self._shown(attribute, tpr) | self._shown(attribute, fpr):
                labels = (self.model, attribute, names[code])
                for gauge, rates in (
                    (self.metrics.fairness_true_positive_rate, tpr),
                    (self.metrics.fairness_false_positive_rate, fpr),
                ):
                    shown = rates.rate[code] if rates.sufficient[code] else float("nan")
                    gauge.labels(*labels).set(shown)
            eligible = self._eligible(attribute)
            table = {
                "true_positive_rate": self._table(attribute, tpr),
                "false_positive_rate": self._table(attribute, fpr),
            }
            opportunity = rate_gap(tpr, eligible)
            odds, which = equalized_odds_gap(tpr, fpr, eligible)
            for metric, gap in (("equal_opportunity", opportunity), ("equalized_odds", odds)):
                value = gap.value if gap.value is not None else float("nan")
                self.metrics.fairness_gap.labels(self.model, attribute, metric).set(value)
                if metric not in self.config.metrics:
                    continue
                bound = self.config.max_gap
                violated = gap.value is not None and gap.value > bound and self._clear(gap)
                rate = "true_positive_rate" if metric == "equal_opportunity" else which
                outputs += self._judge(attribute, metric, violated, gap, bound, table, window, rate)
        self.labelled = self._zeros(LABELLED_ROWS)
        self.labelled_span.next()
        return outputs

    def _shown(self, attribute: str, rates: GroupRates) -> set[int]:
        """Known groups, and the pooled one once it has members: bounded gauge labels."""
        codes = set(range(len(self.groups[attribute])))
        if rates.trials[self.other] > 0:
            codes.add(self.other)
        return codes

    def _clear(self, disparity: Disparity) -> bool:
        return disparity.separated or not self.config.require_separated_intervals

    def _table(self, attribute: str, rates: GroupRates) -> dict[str, dict[str, Any]]:
        names = self._names(attribute)
        table = {}
        for code in sorted(self._shown(attribute, rates)):
            n = int(rates.trials[code])
            status = "ok" if rates.sufficient[code] else "insufficient_data"
            if code == self.other:
                status = "pooled"
            table[names[code]] = {
                "events": n,
                "successes": int(rates.successes[code]),
                "rate": float(rates.rate[code]) if n else None,
                "ci": [float(rates.low[code]), float(rates.high[code])],
                "status": status,
            }
        return table

    # -- alerts -----------------------------------------------------------------------
    def _judge(
        self,
        attribute: str,
        metric: str,
        violated: bool,
        disparity: Disparity,
        bound: float,
        table: dict[str, dict[str, dict[str, Any]]],
        window: dict[str, Any],
        rate: str | None = "positive_rate",
    ) -> list[OutputRecord]:
        key = f"{attribute}|{metric}"
        streak = self.streaks.setdefault(key, Streak())
        status = streak.step(
            violated, window, self.config.consecutive_windows, self.config.resolve_after
        )
        names = self._names(attribute)
        lowest = names[disparity.lowest] if disparity.lowest is not None else None
        highest = names[disparity.highest] if disparity.highest is not None else None
        if self.observer is not None:
            groups = [g for rates in table.values() for g in rates.values()]
            self.observer(
                {
                    "kind": "fairness",
                    "model": self.model,
                    "attribute": attribute,
                    "metric": metric,
                    "window": window["name"],
                    "window_index": window["index"],
                    "end_time": window["end_time"],
                    "value": disparity.value,
                    "bound": bound,
                    "violated": violated,
                    "lowest_group": lowest,
                    "highest_group": highest,
                    "insufficient_groups": sum(
                        1 for g in groups if g["status"] == "insufficient_data"
                    ),
                    "firing": streak.firing,
                }
            )
        if status is None:
            return []
        body = fairness_alert(
            self.model,
            attribute,
            source=self.config.attributes[attribute],
            metric=metric,
            status=status,
            disparity=disparity,
            bound=bound,
            groups=(lowest, highest),
            compared_rate=rate,
            rates=table,
            window=window,
            confidence=self.config.confidence,
            min_group_size=self.config.min_group_size,
            started=streak.started,
        )
        self.metrics.alerts.labels(self.model, "fairness", status, "warning").inc()
        firing = self.metrics.alerts_firing.labels(self.model, "fairness")
        firing.inc() if status == "firing" else firing.dec()
        return [alert_record(body, self.alerts_topic)]

    @property
    def firing(self) -> int:
        return sum(1 for streak in self.streaks.values() if streak.firing)

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "groups": {a: list(table) for a, table in self.groups.items()},
            "decisions": [self.span.snapshot(), self.decisions],
            "labelled": [self.labelled_span.snapshot(), self.labelled],
            "pending": [[key, *value] for key, value in self.pending.items()],
            "watermark": self.watermark,
            "streaks": {key: streak.snapshot() for key, streak in self.streaks.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores what still fits the configuration (attributes may have changed)."""
        for attribute, values in state["groups"].items():
            if attribute in self.groups:
                limit = self.config.max_groups
                self.groups[attribute] = {v: i for i, v in enumerate(values[:limit])}
        for name, rows in (("decisions", DECISION_ROWS), ("labelled", LABELLED_ROWS)):
            span_state, counts = state[name]
            getattr(self, "span" if name == "decisions" else "labelled_span").restore(span_state)
            target = getattr(self, name)
            for attribute, table in counts.items():
                if attribute in target and all(len(row) == self.width for row in table):
                    target[attribute] = [list(row) for row in table][: len(rows)]
        self.pending = OrderedDict(
            (key, (ts, positive, list(codes))) for key, ts, positive, codes in state["pending"]
        )
        self.watermark = state["watermark"]
        # A streak of an attribute or metric no longer configured would never resolve.
        self.streaks = {
            key: Streak.restore(value)
            for key, value in state["streaks"].items()
            if key.split("|")[0] in self.groups and key.split("|")[1] in self.config.metrics
        }
        self.metrics.alerts_firing.labels(self.model, "fairness").inc(self.firing)

    def release(self) -> None:
        self.metrics.alerts_firing.labels(self.model, "fairness").dec(self.firing)
