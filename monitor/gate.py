"""The guardrail stage: rules on every decision, then review, block, approve and alert.

A decision hit by a ``review`` or ``block`` rule goes to the review topic with every rule
that fired and why. With ``topics.approved`` set (gating mode), decisions that no review
or block rule hit are forwarded there, so a consumer of the approved topic never sees a
blocked decision. Rules with the ``alert`` action raise one alert per rule, which resolves
after ``guardrail_quiet_seconds`` of event time without a hit; aggregate rules fire and
resolve with their window.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from monitor import __version__
from monitor.config import Config
from monitor.event_columns import stamps
from monitor.events import Event
from monitor.guardrails import Evaluation, Guardrails
from monitor.guardrails.batch import Coded
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord, encode_json, event_body, trace_headers

TRACE_NAMESPACE = uuid.UUID("6f0c1f2e-4b7a-4f1d-9a55-8d7f0e2c3b11")
_NAMESPACE_BYTES = TRACE_NAMESPACE.bytes


def trace_id(model: str, event_id: str) -> str:
    """A stable trace id per decision (the same on every replay), W3C-sized: 32 hex digits.

    ``uuid.uuid5(TRACE_NAMESPACE, "model/id").hex``, computed as RFC 9562 defines it without
    building a ``UUID`` object, which costs three times as much."""
    name = f"{model}/{event_id}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC variant
    return digest.hex()


class Gate:
    def __init__(self, model: str, config: Config, metrics: Metrics) -> None:
        self.model = model
        model_config = config.models[model]
        self.guardrails = Guardrails(model, model_config) if model_config.guardrails else None
        self.topics = config.topics
        self.metrics = metrics
        self.quiet_seconds = model_config.guardrail_quiet_seconds
        self.last_hit: dict[str, float] = {}  # rule -> event time of its latest alert-action hit

    def apply(
        self, events: list[Event], codes: Mapping[str, Coded] | None = None
    ) -> list[OutputRecord]:
        """``codes``: the events' categorical columns as dictionary codes, when known."""
        if self.guardrails is None:
            return self._approve(events, None)
        evaluation = self.guardrails.evaluate(self.guardrails.batch(events, codes))
        outputs = self._review(events, evaluation)
        outputs += self._approve(events, evaluation)
        outputs += self._alerts(events, evaluation)
        for rule, count in evaluation.rule_counts.items():
            if count:
                self.metrics.guardrail_hits.labels(self.model, rule).inc(count)
        for rule, count in evaluation.error_counts.items():
            if count:
                self.metrics.guardrail_errors.labels(self.model, rule).inc(count)
        return outputs

    def _review(self, events: list[Event], evaluation: Evaluation) -> list[OutputRecord]:
        outputs = []
        blocked = reviewed = 0
        for index in evaluation.flagged.tolist():
            is_blocked = bool(evaluation.blocked[index])
            if not (is_blocked or evaluation.review[index]):
                continue
            event = events[index]
            body = {
                "id": event.id,
                "model": event.model,
                "version": event.version,
                "decision": "block" if is_blocked else "review",
                "trace_id": trace_id(event.model, event.id),
                "rules": [
                    {"rule": h.rule, "kind": h.kind, "action": h.action, "reason": h.reason}
                    for h in evaluation.hits[index]
                ],
                "event": event_body(event),
                "source": {
                    "topic": event.topic,
                    "partition": event.partition,
                    "offset": event.offset,
                },
                "driftd_version": __version__,
            }
            blocked += is_blocked
            reviewed += not is_blocked
            outputs.append(
                OutputRecord(
                    self.topics.review, encode_json(body), event.id.encode(), trace_headers(event)
                )
            )
        if blocked:
            self.metrics.decisions.labels(self.model, "blocked").inc(blocked)
        if reviewed:
            self.metrics.decisions.labels(self.model, "review").inc(reviewed)
        return outputs

    def _approve(self, events: list[Event], evaluation: Evaluation | None) -> list[OutputRecord]:
        held = np.zeros(len(events), dtype=bool)
        if evaluation is not None:
            held = evaluation.blocked | evaluation.review
        passed = len(events) - int(held.sum())
        if passed:
            self.metrics.decisions.labels(self.model, "approved").inc(passed)
        topic = self.topics.approved
        if topic is None:
            return []
        return [
            OutputRecord(
                topic, encode_json(event_body(event)), event.id.encode(), trace_headers(event)
            )
            for event, hold in zip(events, held.tolist(), strict=True)
            if not hold
        ]

    def _alerts(self, events: list[Event], evaluation: Evaluation) -> list[OutputRecord]:
        outputs = []
        newest = float(stamps(events).max())
        hit_rules: dict[str, int] = {}
        for index in np.flatnonzero(evaluation.alert).tolist():
            for hit in evaluation.hits[index]:
                if hit.action == "alert":
                    hit_rules.setdefault(hit.rule, index)
        for rule, index in hit_rules.items():
            if rule not in self.last_hit:
                outputs.append(
                    self._alert(
                        rule,
                        "firing",
                        events[index],
                        {"hits_in_batch": int(evaluation.rule_counts.get(rule, 0))},
                    )
                )
            self.last_hit[rule] = events[index].ts
        for rule, last in list(self.last_hit.items()):
            if rule not in hit_rules and newest - last >= self.quiet_seconds:
                del self.last_hit[rule]
                outputs.append(
                    self._alert(rule, "resolved", None, {"quiet_seconds": self.quiet_seconds})
                )
        for agg in evaluation.aggregate:
            details = {
                "statistic": agg.statistic,
                "value": agg.value,
                "bounds": list(agg.bounds),
                "window_end_index": agg.window_end_index,
            }
            status = "firing" if agg.firing else "resolved"
            outputs.append(self._alert(agg.rule, status, events[agg.batch_index], details))
        return outputs

    def _alert(
        self, rule: str, status: str, event: Event | None, details: dict[str, Any]
    ) -> OutputRecord:
        body: dict[str, Any] = {
            "dedup_key": f"driftd/guardrail/{self.model}/{rule}",
            "status": status,
            "kind": "guardrail",
            "severity": "warning",
            "model": self.model,
            "feature": None,
            "test": rule,
            "rule": rule,
            **details,
            "driftd_version": __version__,
        }
        if event is not None:
            body["example"] = {
                "id": event.id,
                "ts": event.ts,
                "partition": event.partition,
                "offset": event.offset,
                "trace_id": trace_id(event.model, event.id),
            }
            if event.headers:
                body["example"]["headers"] = event.headers
        self.metrics.alerts.labels(self.model, "guardrail", status, "warning").inc()
        firing = self.metrics.alerts_firing.labels(self.model, "guardrail")
        firing.inc() if status == "firing" else firing.dec()
        return OutputRecord(self.topics.alerts, encode_json(body), body["dedup_key"].encode())

    def snapshot(self) -> dict[str, Any]:
        return {
            "guardrails": self.guardrails.snapshot() if self.guardrails is not None else None,
            "last_hit": dict(self.last_hit),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if self.guardrails is not None and state["guardrails"] is not None:
            self.guardrails.restore(state["guardrails"])
        self.last_hit = dict(state["last_hit"])
        self.metrics.alerts_firing.labels(self.model, "guardrail").inc(len(self.last_hit))
