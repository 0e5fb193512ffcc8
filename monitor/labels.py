"""Joining delayed ground truth to decisions, and feeding the result in event-time order.

Every decision of a model with concept monitoring waits (bounded by count and by event
time) for its label. A label that finds its decision yields the decision's error; labels
that arrive a little before their decision (possible when the labels topic is read ahead
of the decisions) wait briefly too. Matched errors go through a reorder buffer and are
released in the decisions' event-time order once the label stream has moved
``reorder_seconds`` past them, because drift detectors assume an ordered stream.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not, not_
from typing import Any

from monitor.event_columns import keys as event_keys
from monitor.event_columns import offsets as event_offsets
from monitor.event_columns import partitions
from monitor.event_columns import stamps as event_stamps
from monitor.events import Event, categorical_value
from monitor.fastlane import fast_rows, pick
from monitor.label_state import Decision, ExpiredKeys, Key, WaitingDecisions


@dataclass(slots=True)
class Labelled:
    """A decision whose ground truth arrived: what the concept detectors consume."""

    ts: float
    error: float
    partition: int
    offset: int
    # For fairness and champion-challenger: the decision's id and the true class label.
    id: str = ""
    truth: str | None = None


@dataclass(slots=True)
class LabelOutcome:
    released: dict[str, list[Labelled]]  # per model, in event-time order
    matched: dict[str, int]
    unmatched: dict[tuple[str, str], int]  # (model, "unknown" | "expired") -> count
    late: int  # released out of order because they came after the reorder horizon


class LabelJoin:
    def __init__(
        self,
        ttl_seconds: float,
        max_pending: int,
        reorder_seconds: float,
        regression: set[str],
        thresholds: dict[str, float],
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_pending = max_pending
        self.reorder_seconds = reorder_seconds
        self.regression = regression
        self.thresholds = thresholds
        # Oldest first; both are checkpointed in segments, at the cost of what changed.
        self.decisions = WaitingDecisions()
        self.early: OrderedDict[Key, Event] = OrderedDict()
        self.expired = ExpiredKeys(max_pending)
        self.watermark = float("-inf")  # newest decision time seen
        self.released_until = float("-inf")
        self.matched_until = float("-inf")  # newest decision time among matched labels
        self._heap: list[tuple[float, int, str, Labelled]] = []
        self._seq = itertools.count()
        # Early labels whose decision has just arrived, matched at the next add_labels.
        self._found: list[tuple[Event, Decision]] = []

    def __len__(self) -> int:
        return len(self.decisions) + len(self.early)

    # -- input ------------------------------------------------------------------------
    def add_decisions(self, events: list[Event]) -> None:
        predictions = self._predicted_fast(events)
        if predictions is None:
            predictions = [self._predicted(event) for event in events]
        keys = event_keys(events)
        if not self._add_new(keys, events, predictions):
            self._add_each(keys, events, predictions)
        self._expire()

    def _add_new(self, keys: list[Key], events: list[Event], predictions: list[Any]) -> bool:
        """The usual batch (every decision new) in a few passes in C; False, and nothing
        changed, otherwise. Decisions that early labels wait for are matched at the next
        ``add_labels``, as one by one."""
        if None in predictions:  # nothing to compare a label with: they do not wait
            has = list(map(is_not, predictions, repeat(None)))
            keys, events = list(compress(keys, has)), list(compress(events, has))
            predictions = list(compress(predictions, has))
        stamps = event_stamps(events).tolist()
        waiting_ts, found = stamps, []
        if self.early and not self.early.keys().isdisjoint(keys):
            awaited = list(map(self.early.__contains__, keys))
            if len(set(compress(keys, awaited))) != sum(awaited):
                return False  # a decision an early label waits for, twice
            found = list(compress(zip(events, predictions, strict=True), awaited))
            keep = list(map(not_, awaited))
            events, keys = list(compress(events, keep)), list(compress(keys, keep))
            predictions = list(compress(predictions, keep))
            waiting_ts = list(compress(stamps, keep))
        parts, offsets = partitions(events).tolist(), event_offsets(events).tolist()
        if not self.decisions.put_new(keys, waiting_ts, predictions, parts, offsets):
            return False
        for event, predicted in found:
            decision = Decision(event.ts, predicted, event.partition, event.offset)
            self._found.append((self.early.pop((event.model, event.id)), decision))
        self.watermark = max(self.watermark, max(stamps, default=self.watermark))
        return True

    def _add_each(self, keys: list[Key], events: list[Event], predictions: list[Any]) -> None:
        watermark = self.watermark
        for key, event, predicted in zip(keys, events, predictions, strict=True):
            if predicted is None:
                continue
            ts = event.ts
            decision = Decision(ts, predicted, event.partition, event.offset)
            if ts > watermark:
                watermark = self.watermark = ts
            early = self.early.pop(key, None) if self.early else None
            if early is not None:
                self._found.append((early, decision))
                continue
            self.decisions.put(key, decision)

    @property
    def has_work(self) -> bool:
        """Matches or releases are waiting even without new labels."""
        return bool(self._found or self._heap)

    def add_labels(self, labels: list[Event]) -> LabelOutcome:
        outcome = LabelOutcome({}, {}, {}, 0)
        found, self._found = self._found, []
        for label, decision in found:
            self._match(label, decision, outcome)
        for label in labels:
            key = (label.model, label.id)
            waiting = self.decisions.pop(key)
            if waiting is None:
                self.early[key] = label
                continue
            self._match(label, waiting, outcome)
        self._expire(outcome)
        self._release(outcome)
        return outcome

    def _match(self, label: Event, decision: Decision, outcome: LabelOutcome) -> None:
        error = self._error(label, decision)
        model = label.model
        outcome.matched[model] = outcome.matched.get(model, 0) + 1
        truth = None if label.model in self.regression else categorical_value(label.label)
        item = Labelled(decision.ts, error, decision.partition, decision.offset, label.id, truth)
        self.matched_until = max(self.matched_until, decision.ts)
        if decision.ts <= self.released_until:
            outcome.late += 1
            outcome.released.setdefault(model, []).append(item)
            return
        heapq.heappush(self._heap, (decision.ts, next(self._seq), model, item))

    def _release(self, outcome: LabelOutcome) -> None:
        horizon = self.matched_until - self.reorder_seconds
        heap = self._heap
        # Beyond max_pending the oldest go out before the horizon: where event time stalls
        # or goes back, nothing else would ever release them.
        while heap and (heap[0][0] <= horizon or len(heap) > self.max_pending):
            ts, _, model, item = heapq.heappop(heap)
            self.released_until = max(self.released_until, ts)
            outcome.released.setdefault(model, []).append(item)

    def _expire(self, outcome: LabelOutcome | None = None) -> None:
        horizon = self.watermark - self.ttl_seconds
        decisions = self.decisions
        excess = len(decisions) - self.max_pending
        count = 0
        # The oldest first, until one is recent enough and the rest fit the bound.
        for _, decision in decisions.items():
            if decision.ts >= horizon and count >= excess:
                break
            count += 1
        for key in decisions.drop_oldest(count):
            self.expired.add(key)
        if outcome is None:
            return
        label_horizon = self.watermark - self.reorder_seconds
        while self.early:
            key, label = next(iter(self.early.items()))
            if label.ts >= label_horizon and len(self.early) <= self.max_pending:
                break
            self.early.popitem(last=False)
            reason = "expired" if key in self.expired else "unknown"
            outcome.unmatched[(key[0], reason)] = outcome.unmatched.get((key[0], reason), 0) + 1

    # -- errors -----------------------------------------------------------------------
    def _predicted_fast(self, events: list[Event]) -> list[Any] | None:
        """Predicted labels of fast-lane classification events, from their columns."""
        fast = fast_rows(events)
        if fast is None or events[0].model in self.regression:
            return None
        columns, rows = fast
        labels = pick(columns.label, rows)
        if None in labels:
            threshold = self.thresholds.get(events[0].model, 0.5)
            scores = columns.score[rows].tolist()
            labels = [
                (None if math.isnan(s) else 1.0 if s >= threshold else 0.0) if v is None else v
                for v, s in zip(labels, scores, strict=True)
            ]
        kinds = set(map(type, labels))
        if len(kinds) == 1 and type(None) not in kinds:
            # One type (so True and 1 cannot meet): canonicalise each distinct label once.
            canonical = {value: categorical_value(value) for value in set(labels)}
            return list(map(canonical.__getitem__, labels))
        by_kind: dict[Any, Any] = {}
        out = []
        for value in labels:
            # True and 1.0 are equal keys and spell the same category, "1"; the type is
            # part of the key for "true".
            key = (type(value), value)
            text = by_kind.get(key)
            if text is None and value is not None:
                text = by_kind[key] = categorical_value(value)
            out.append(text)
        return out

    def _predicted(self, event: Event) -> Any:
        prediction = event.prediction
        if prediction is None:
            return None
        if event.model in self.regression:
            value = prediction.get("value", prediction.get("score"))
            return float(value) if isinstance(value, int | float) else None
        label = prediction.get("label")
        if label is None:
            score = prediction.get("score")
            if not isinstance(score, float):
                return None
            label = 1.0 if score >= self.thresholds.get(event.model, 0.5) else 0.0
        return categorical_value(label)

    def _error(self, label: Event, decision: Decision) -> float:
        truth = label.label
        if label.model in self.regression:
            if not isinstance(truth, int | float) or isinstance(truth, bool):
                return float("nan")
            return abs(float(decision.predicted) - float(truth))
        return 0.0 if categorical_value(truth) == decision.predicted else 1.0

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions.snapshot(),
            "early": [
                [k[0], k[1], e.ts, e.label, e.topic, e.partition, e.offset]
                for k, e in self.early.items()
            ],
            "expired": self.expired.snapshot(),
            "watermark": self.watermark,
            "released_until": self.released_until,
            "matched_until": self.matched_until,
            "heap": [
                [ts, model, i.error, i.partition, i.offset, i.id, i.truth]
                for ts, _, model, i in sorted(self._heap)
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.decisions.restore(state["decisions"])
        self.early = OrderedDict(
            ((m, i), Event(m, i, ts, None, None, None, lab, topic, part, off))
            for m, i, ts, lab, topic, part, off in state["early"]
        )
        self.expired.restore(state["expired"])
        self.watermark = state["watermark"]
        self.released_until = state["released_until"]
        self.matched_until = state["matched_until"]
        # Checkpoints written before items carried their id and truth have five fields.
        self._heap = [
            (item[0], next(self._seq), item[1], Labelled(item[0], *item[2:]))
            for item in state["heap"]
        ]
        heapq.heapify(self._heap)
