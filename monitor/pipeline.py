"""The one pipeline: decode/validate → join → monitors → outputs.

The daemon, the demo and offline replay all feed it records; only the source differs.
State is kept per *task*, one task per input partition number (all input topics are
co-partitioned), so that a task's state can be checkpointed with that partition's offsets
and move with it to another member of the consumer group.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from itertools import compress
from operator import attrgetter, not_
from typing import Any

import msgspec

from monitor.audit import AuditChain, AuditTrail
from monitor.config import Config
from monitor.event_columns import decoded_batch, stamps
from monitor.events import (
    Event,
    Reasons,
    Rejected,
    SourceRecord,
    count_incomplete,
)
from monitor.formats.dispatch import InputDecoder
from monitor.join import JoinBuffer
from monitor.labels import LabelJoin
from monitor.metrics import Metrics
from monitor.monitoring import ModelMonitoring, ReferenceCatalog
from monitor.outputs import OutputRecord, dead_letter, encode_json, event_body, joined_event
from monitor.oversight import Oversight

STATE_VERSION = 1
# Receives one dict per tested window (see window_stats.py); replay sets it, the daemon not.
Observer = Callable[[dict[str, Any]], None]


class TaskState:
    """Everything one task remembers between batches."""

    def __init__(
        self,
        config: Config,
        catalog: ReferenceCatalog,
        metrics: Metrics,
        audit_chain: AuditChain | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.config = config
        # The head of this task's audit chain, checkpointed with the rest of its state.
        self.audit_chain = audit_chain
        self.observer = observer
        self.catalog = catalog
        self.metrics = metrics
        self.join = JoinBuffer(config.join.ttl_seconds, config.join.max_pending)
        self.models: dict[str, ModelMonitoring] = {}
        labels = config.labels
        self.labels = LabelJoin(
            labels.ttl_seconds,
            labels.max_pending,
            labels.reorder_seconds,
            regression={m for m, c in config.models.items() if c.task == "regression"},
            thresholds={m: c.concept.decision_threshold for m, c in config.models.items()},
        )
        self.waits_for_labels = {
            m for m, c in config.models.items() if config.topics.labels and c.concept.error
        }
        # Fairness and champion-challenger monitors (docs/governance.md).
        self.oversight = Oversight(config, metrics, observer)
        self.waits_for_labels |= self.oversight.wants_labels

    def model(self, name: str) -> ModelMonitoring:
        monitoring = self.models.get(name)
        if monitoring is None:
            monitoring = ModelMonitoring(name, self.config, self.catalog, self.metrics)
            monitoring.observer = self.observer
            self.models[name] = monitoring
        return monitoring

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "join": self.join.snapshot(),
            "labels": self.labels.snapshot(),
            "models": {name: m.snapshot() for name, m in self.models.items()},
            "audit": self.audit_chain.snapshot() if self.audit_chain is not None else None,
            "oversight": self.oversight.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state version {state.get('version')} is not {STATE_VERSION}")
        self.join.restore(state["join"])
        self.labels.restore(state["labels"])
        if self.audit_chain is not None:
            self.audit_chain.restore(state.get("audit"))
        for name, model_state in state["models"].items():
            if name in self.config.models:
                self.model(name).restore(model_state)
        if "oversight" in state:
            self.oversight.restore(state["oversight"])


class Pipeline:
    def __init__(
        self, config: Config, metrics: Metrics, now: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.now = now
        self.decoder = InputDecoder(config, metrics, now=now)
        # Profiles are loaded once; a missing or mismatched one stops the start here.
        self.catalog = ReferenceCatalog(config)
        self.tasks: dict[int, TaskState] = {}
        self.audit = AuditTrail(config, self.reference_of) if config.audit.enabled else None
        self.observer: Observer | None = None
        self._dead_letter_topic = config.topics.dead_letter
        self._labels_topic = config.topics.labels
        # Every (input topic, reason) series exists from the start at 0, so that rate()
        # and increase() in alert rules also see a first dead letter.
        for topic in config.topics.inputs:
            for reason in Reasons.all():
                metrics.dead_letters.labels(topic, reason)

    # -- task state -----------------------------------------------------------------
    def task(self, partition: int) -> TaskState:
        state = self.tasks.get(partition)
        if state is None:
            state = self.tasks[partition] = self._new_task(partition)
        return state

    def _new_task(self, partition: int) -> TaskState:
        chain = self.audit.chain_for(partition) if self.audit is not None else None
        return TaskState(self.config, self.catalog, self.metrics, chain, self.observer)

    def reference_of(self, model: str, version: str | None) -> dict[str, str]:
        """The reference an event of ``model``/``version`` is compared with (for audit)."""
        if model not in self.catalog.default:
            return {"source": "unknown", "hash": ""}
        source = self.catalog.for_version(model, version)[1]
        return {"source": source.kind, "hash": source.ident}

    def snapshot(self, partition: int) -> bytes:
        return msgspec.msgpack.encode(self.task(partition).snapshot())

    def restore(self, partition: int, blob: bytes | None) -> None:
        state = self._new_task(partition)
        if blob is not None:
            state.restore(msgspec.msgpack.decode(blob))
        self.tasks[partition] = state
        self._update_pending()

    def drop(self, partition: int) -> None:
        task = self.tasks.pop(partition, None)
        if task is not None:
            for monitoring in task.models.values():
                monitoring.release()
            task.oversight.release()
        self._update_pending()

    # -- processing -----------------------------------------------------------------
    def process(self, records: Sequence[SourceRecord]) -> list[OutputRecord]:
        try:
            return self._process(records)
        finally:
            self.decoder.release()

    def _process(self, records: Sequence[SourceRecord]) -> list[OutputRecord]:
        started = time.perf_counter()
        metrics = self.metrics
        # Each task's records are decoded on their own, so that its events are one decoded
        # batch whose columns the stages read (monitor/event_columns.py).
        by_task: Mapping[int, Sequence[SourceRecord]]
        partitions = set(map(_partition_of, records))
        if len(partitions) == 1:  # one partition's records
            by_task = {partitions.pop(): records}
        else:
            grouped: dict[int, list[SourceRecord]] = {}
            for record in records:
                grouped.setdefault(record.partition, []).append(record)
            by_task = grouped
        outputs: list[OutputRecord] = []
        decoded: list[tuple[int, list[Event]]] = []
        for partition, task_records in by_task.items():
            events, rejected = self.decoder.decode(task_records, same_batch=bool(decoded))
            outputs.extend(self._reject(item) for item in rejected)
            decoded.append((partition, events))
        for partition, task_events in decoded:
            if task_events:
                outputs.extend(self._process_task(partition, task_events))

        for topic, count in Counter(map(_topic_of, records)).items():
            metrics.records_consumed.labels(topic).inc(count)
        written: dict[str, int] = {}
        for output in outputs:
            written[output.topic] = written.get(output.topic, 0) + 1
        for topic, count in written.items():
            metrics.outputs.labels(topic).inc(count)
        self._update_pending()
        metrics.batch_records.observe(len(records))
        metrics.batch_seconds.observe(time.perf_counter() - started)
        return outputs

    def _process_task(self, partition: int, events: list[Event]) -> list[OutputRecord]:
        task = self.task(partition)
        if decoded_batch(events) is not None:  # the fast lane takes no labels
            labels, decisions = [], events
        else:
            is_label = [topic == self._labels_topic for topic in map(_topic_of, events)]
            labels = list(compress(events, is_label))
            decisions = list(compress(events, map(not_, is_label)))
        result = task.join.add(decisions)
        if result.duplicates:
            self.metrics.join_duplicates.inc(result.duplicates)
        outputs: list[OutputRecord] = []
        if result.expired:
            outputs.extend(self._expired(result.expired))
        ready = result.completed + (
            result.expired if self.config.join.on_incomplete == "process" else []
        )
        outputs.extend(self._monitor(task, ready))
        if decoded_batch(ready) is not None:  # one model's
            waiting = ready if ready[0].model in task.waits_for_labels else []
        else:
            waiting = [e for e in ready if e.model in task.waits_for_labels]
        if waiting:
            task.labels.add_decisions(waiting)
        if labels or task.labels.has_work:
            outputs.extend(self._labelled(task, labels))
        self.metrics.label_join_pending.set(sum(len(t.labels) for t in self.tasks.values()))
        if self.audit is not None and task.audit_chain is not None:
            outputs.extend(self.audit.records_for(task.audit_chain, outputs, self.now()))
        return outputs

    def _labelled(self, task: TaskState, labels: list[Event]) -> list[OutputRecord]:
        metrics = self.metrics
        per_model: dict[str, int] = {}
        for label in labels:
            per_model[label.model] = per_model.get(label.model, 0) + 1
        for model, count in per_model.items():
            metrics.labels.labels(model).inc(count)
        outcome = task.labels.add_labels(labels)
        for model, count in outcome.matched.items():
            metrics.labels_matched.labels(model).inc(count)
        for (model, reason), count in outcome.unmatched.items():
            metrics.labels_unmatched.labels(model, reason).inc(count)
        if outcome.late:
            metrics.labels_late.inc(outcome.late)
        outputs: list[OutputRecord] = []
        for model, items in outcome.released.items():
            outputs.extend(task.model(model).add_labelled(items))
            outputs.extend(task.oversight.labelled(model, items))
        return outputs

    def _expired(self, expired: list[Event]) -> list[OutputRecord]:
        outputs = []
        for event in expired:
            missing = "prediction" if event.prediction is None else "features"
            self.metrics.join_expired.labels(event.model, missing).inc()
            if self.config.join.on_incomplete == "dead_letter":
                outputs.append(self._reject(_expired_rejection(event, missing)))
        return outputs

    def _monitor(self, task: TaskState, events: list[Event]) -> list[OutputRecord]:
        """The monitoring stages run on joined events; each stage adds its outputs."""
        if not events:
            return []
        outputs: list[OutputRecord] = []
        by_model: dict[str, list[Event]] = {}
        decoded = decoded_batch(events) is not None
        if decoded:  # one model's fast-lane events, complete by construction
            by_model[events[0].model] = events
        else:
            for event in events:
                by_model.setdefault(event.model, []).append(event)
        for model, model_events in by_model.items():
            incomplete = 0 if decoded else count_incomplete(model_events)
            if len(model_events) - incomplete:
                self.metrics.events.labels(model, "complete").inc(len(model_events) - incomplete)
            if incomplete:
                self.metrics.events.labels(model, "incomplete").inc(incomplete)
            newest = float(stamps(model_events).max())
            self.metrics.last_event_time.labels(model).set(newest)
            outputs.extend(task.model(model).add(model_events))
            outputs.extend(task.oversight.decisions(model, model_events))
        joined_topic = self.config.topics.joined
        if joined_topic:
            outputs.extend(joined_event(event, joined_topic) for event in events)
        return outputs

    def _reject(self, rejected: Rejected) -> OutputRecord:
        self.metrics.dead_letters.labels(rejected.record.topic, rejected.reason).inc()
        return dead_letter(rejected, self._dead_letter_topic)

    def _update_pending(self) -> None:
        self.metrics.join_pending.set(sum(len(t.join) for t in self.tasks.values()))


_topic_of = attrgetter("topic")
_partition_of = attrgetter("partition")


class _ExpiredRecord:
    """The origin of an expired half, for its dead letter (its payload is re-encoded)."""

    def __init__(self, event: Event) -> None:
        self.topic = event.topic
        self.partition = event.partition
        self.offset = event.offset
        self.timestamp = int(event.ts * 1000)
        self.key: bytes | None = None
        self.value: bytes | None = encode_json(event_body(event))
        self.headers: Sequence[tuple[str, bytes | None]] = [
            (name, value.encode()) for name, value in (event.headers or {}).items()
        ]


def _expired_rejection(event: Event, missing: str) -> Rejected:
    detail = f"no {missing} for this event within the join TTL"
    return Rejected(Reasons.JOIN_EXPIRED, detail, _ExpiredRecord(event))
