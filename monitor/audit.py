"""The audit trail: one append-only, hash-chained record per alert, held decision and
configuration change.

A record is self-contained (what happened, when, which model, reference profile, config,
rule or detector with its parameters, which input window, which driftd) and carries
``prev_hash``, the ``hash`` of the record before it in its *chain*, and ``seq``, its place
there. Each input task (partition number) has one chain, ``<group>/task/<n>``, whose head
travels in the task's checkpoint, so a restore continues it exactly; a daemon process
writes its configuration records on its own chain ``<group>/control/<instance>``. Records
are keyed by chain on the audit topic, so one chain stays in one partition, in order.

``hash`` is the SHA-256 of the record's canonical JSON (keys sorted, without ``hash``),
so changing any field, removing a record or reordering records breaks the chain; see
``audit_verify.py`` for the rule that tells a crash re-send from tampering.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from monitor import __version__
from monitor.alerts import event_time
from monitor.config import Config, ModelConfig
from monitor.outputs import OutputRecord

GENESIS = "0" * 64
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def canonical(value: Any) -> bytes:
    """Canonical JSON: keys sorted, no whitespace, NaN as null (msgspec's encoding)."""
    return _encode_sorted(value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(record: dict[str, Any]) -> str:
    return sha256(canonical({k: v for k, v in record.items() if k != "hash"}))


def config_hash(config: Config) -> str:
    """SHA-256 of the canonical config; secrets are dumped as ``**********`` by pydantic,
    so the hash (and anything derived from it) never depends on a secret's value."""
    return sha256(canonical(config.model_dump(mode="json")))


class AuditChain:
    """The head of one chain: the next ``seq`` and the previous record's hash."""

    def __init__(self, chain: str) -> None:
        self.chain = chain
        self.seq = 0
        self.head = GENESIS

    def seal(self, body: dict[str, Any]) -> dict[str, Any]:
        record = {**body, "chain": self.chain, "seq": self.seq, "prev_hash": self.head}
        record["hash"] = record_hash(record)
        self.seq += 1
        self.head = record["hash"]
        return record

    def snapshot(self) -> dict[str, Any]:
        return {"chain": self.chain, "seq": self.seq, "head": self.head}

    def restore(self, state: dict[str, Any] | None) -> None:
        if state is not None and state.get("chain") == self.chain:
            self.seq = int(state["seq"])
            self.head = str(state["head"])


def audit_id(chain: str, kind: str, key: str) -> str:
    """The same alert or decision gets the same id on every replay of the same input."""
    return sha256(f"{chain}|{kind}|{key}".encode())[:32]


class AuditTrail:
    """Turns a task's outputs into audit records on that task's chain."""

    def __init__(
        self, config: Config, references: Callable[[str, str | None], dict[str, str]]
    ) -> None:
        self.config = config
        self.topic = config.audit.topic
        self.config_hash = config_hash(config)
        self.references = references
        self.group = config.kafka.consumer.group_id

    def chain_for(self, task: int) -> AuditChain:
        return AuditChain(f"{self.group}/task/{task}")

    def records_for(
        self, chain: AuditChain, outputs: Sequence[OutputRecord], now: float
    ) -> list[OutputRecord]:
        topics = self.config.topics
        records = []
        for output in outputs:
            if output.topic == topics.alerts:
                body = self._alert(chain.chain, msgspec.json.decode(output.value), now)
            elif output.topic == topics.review:
                body = self._decision(chain.chain, msgspec.json.decode(output.value), now)
            else:
                continue
            # The decision's trace headers (traceparent, x-request-id, ...) travel on.
            records.append(audit_output(chain.seal(body), self.topic, output.headers))
        return records

    def _common(self, kind: str, action: str, model: str, now: float) -> dict[str, Any]:
        return {
            "kind": kind,
            "action": action,
            "processed_at": now,
            "model": model,
            "config_hash": self.config_hash,
            "driftd_version": __version__,
        }

    def _alert(self, chain: str, alert: dict[str, Any], now: float) -> dict[str, Any]:
        model = alert.get("model", "")
        status = alert.get("status", "firing")
        when = event_time(alert)
        body = self._common("alert", status, model, now)
        window = alert.get("window") or {}
        key = f"{alert.get('dedup_key')}|{status}|{window.get('name')}|{window.get('index')}|{when}"
        reference = alert.get("reference")
        body.update(
            audit_id=audit_id(chain, "alert", key),
            event_time=when,
            model_version=None,
            reference=(
                {"source": reference.get("source"), "hash": reference.get("id")}
                if isinstance(reference, dict)
                else self.references(model, None)
            ),
            rule=self._rule_of_alert(alert),
            window=self._window(alert),
            subject=alert,
        )
        return body

    def _decision(self, chain: str, decision: dict[str, Any], now: float) -> dict[str, Any]:
        model = decision.get("model", "")
        action = decision.get("decision", "review")
        version = decision.get("version")
        version = None if version is None else str(version)
        event = decision.get("event") or {}
        body = self._common("decision", action, model, now)
        names = [hit.get("rule") for hit in decision.get("rules", [])]
        body.update(
            audit_id=audit_id(chain, "decision", f"{model}|{decision.get('id')}|{action}"),
            event_time=event.get("ts"),
            model_version=version,
            reference=self.references(model, version),
            rule={"guardrails": self._guardrails(model, names)},
            window=self._window(decision),
            subject=decision,
        )
        return body

    def _model(self, model: str) -> ModelConfig | None:
        return self.config.models.get(model)

    def _guardrails(self, model: str, names: Sequence[Any]) -> list[dict[str, Any]]:
        model_config = self._model(model)
        if model_config is None:
            return []
        return [
            rule.model_dump(mode="json") for rule in model_config.guardrails if rule.name in names
        ]

    def _rule_of_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        kind = alert.get("kind")
        model_config = self._model(alert.get("model", ""))
        test = alert.get("test")
        if model_config is None:
            return {"detector": test}
        if kind == "guardrail":
            return {"guardrails": self._guardrails(alert.get("model", ""), [alert.get("rule")])}
        if kind == "concept_drift":
            signal = alert.get("signal")
            settings = getattr(model_config.concept, str(signal), None)
            return {
                "detector": test,
                "signal": signal,
                "params": settings.model_dump(mode="json") if settings is not None else None,
            }
        if kind in ("fairness", "challenger"):
            # Their own settings (bounds, windows, K and M), not the drift detectors'.
            section = model_config.fairness if kind == "fairness" else model_config.challenger
            return {
                "detector": test,
                "threshold": alert.get("bound", alert.get("margin")),
                "params": section.model_dump(mode="json") if section is not None else None,
            }
        detectors = model_config.detectors
        settings = getattr(detectors, str(test), None) if test else None
        return {
            "detector": test,
            "alpha": alert.get("alpha"),
            "threshold": alert.get("threshold"),
            "correction": alert.get("correction"),
            "params": settings.model_dump(mode="json") if settings is not None else None,
            "policy": model_config.policy.model_dump(mode="json"),
        }

    def _window(self, subject: dict[str, Any]) -> dict[str, Any] | None:
        inputs = self.config.topics.inputs
        window = subject.get("window")
        if isinstance(window, dict):
            start, end = window.get("start") or {}, window.get("end") or {}
            return {
                "topics": inputs,
                "partition": start.get("partition"),
                "start_offset": start.get("offset"),
                "end_offset": end.get("offset"),
                "start_time": window.get("start_time"),
                "end_time": window.get("end_time"),
                "events": window.get("events"),
            }
        for section in ("source", "detected_at", "example"):
            where = subject.get(section)
            if isinstance(where, dict) and "offset" in where:
                topic = where.get("topic")
                return {
                    "topics": [topic] if topic else inputs,
                    "partition": where.get("partition"),
                    "start_offset": where.get("offset"),
                    "end_offset": where.get("offset"),
                }
        return None


def config_record(
    chain: AuditChain,
    action: str,
    config: Config,
    references: dict[str, dict[str, str]],
    detail: dict[str, Any],
    now: float | None = None,
) -> dict[str, Any]:
    """A configuration record: loaded at start, reload accepted or rejected."""
    digest = config_hash(config)
    stamp = time.time() if now is None else now
    body = {
        "audit_id": audit_id(chain.chain, "config", f"{action}|{digest}|{stamp}"),
        "kind": "config",
        "action": action,
        "event_time": None,
        "processed_at": stamp,
        "model": None,
        "model_version": None,
        "config_hash": digest,
        "references": references,
        "rule": None,
        "window": None,
        "subject": detail,
        "driftd_version": __version__,
    }
    return chain.seal(body)


def audit_output(
    record: dict[str, Any], topic: str, headers: list[tuple[str, bytes]] | None = None
) -> OutputRecord:
    key = str(record["chain"]).encode()
    return OutputRecord(topic, msgspec.json.encode(record), key, list(headers or []))
