"""Alerts, configs and a running in-process notifier for the notifier tests."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import msgspec

from monitor.config import Config
from monitor.metrics import Metrics
from monitor.notify import Notifier
from tests.kafkatools import FAST_GROUP, create_topics, produce, unique

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIs3jh9SaFPc="

BASE_ALERT: dict[str, Any] = {
    "dedup_key": "driftd/data_drift/credit-risk/all/debt_to_income/ks/tumbling-5000",
    "status": "firing",
    "kind": "data_drift",
    "severity": "critical",
    "model": "credit-risk",
    "segment": None,
    "feature": "debt_to_income",
    "test": "ks",
    "window": {
        "name": "tumbling-5000",
        "index": 51,
        "events": 5000,
        "start_time": 1764300255.0,
        "end_time": 1764300260.0,
        "start": {"partition": 0, "offset": 255000},
        "end": {"partition": 0, "offset": 259999},
    },
    "drift_started": {"time": 1764300250.0, "partition": 0, "offset": 250000},
    "statistic": 0.41,
    "p_value": 1.2e-300,
    "p_value_corrected": 2.7e-299,
    "correction": "bh",
    "alpha": 0.05,
    "threshold": 0.1,
    "n_reference": 10000,
    "n_current": 5000,
    "explanation": {"reference": {"mean": 0.35, "p50": 0.35}, "current": {"mean": 0.53}},
    "reference": {"source": "profile", "id": "sha256:abc"},
    "driftd_version": "0.1.0",
}


def make_alert(
    feature: str | None = "debt_to_income",
    status: str = "firing",
    severity: str = "critical",
    model: str = "credit-risk",
    index: int = 51,
    **changes: Any,
) -> dict[str, Any]:
    alert = copy.deepcopy(BASE_ALERT)
    alert.update(
        dedup_key=f"driftd/data_drift/{model}/all/{feature or '__dataset__'}/ks/tumbling-5000",
        status=status,
        severity=severity,
        model=model,
        feature=feature,
    )
    alert["window"]["index"] = index
    alert.update(changes)
    return alert


def key_status(body: dict[str, Any]) -> tuple[str, str]:
    return body["dedup_key"], body["status"]


def notifier_settings(
    bootstrap: str,
    sinks: dict[str, Any],
    routes: list[dict[str, Any]] | None = None,
    delivery: dict[str, Any] | None = None,
    partitions: int = 1,
) -> dict[str, Any]:
    """Config data with fresh alerts and dead-letter topics (created on the broker)."""
    topics = {"alerts": unique("alerts"), "dead_letter": unique("dead-letter")}
    create_topics(bootstrap, {topics["alerts"]: partitions, topics["dead_letter"]: 1})
    return {
        "kafka": {
            "bootstrap_servers": bootstrap,
            "consumer": {**FAST_GROUP, "group_id": unique("driftd")},
        },
        "topics": topics,
        "server": {"enabled": False},
        "logging": {"format": "json"},
        "shutdown_timeout_seconds": 10,
        "models": {"credit-risk": {"features": {"debt_to_income": {"type": "numeric"}}}},
        "alerts": {
            "sinks": sinks,
            "routes": routes if routes is not None else [{"sinks": sorted(sinks)}],
            "delivery": {
                "backoff_initial_seconds": 0.2,
                "backoff_max_seconds": 1.0,
                **(delivery or {}),
            },
        },
    }


def produce_alerts(config: Config, alerts: list[dict[str, Any]]) -> None:
    topic = config.topics.alerts
    bootstrap = config.kafka.bootstrap_servers[0]
    produce(
        bootstrap,
        [(topic, a["dedup_key"].encode(), msgspec.json.encode(a)) for a in alerts],
    )


@contextlib.contextmanager
def running_notifier(config: Config, metrics: Metrics | None = None) -> Iterator[Notifier]:
    notifier = Notifier(config, metrics or Metrics())
    notifier.start()
    try:
        yield notifier
    finally:
        assert notifier.stop(20), "notifier did not stop in time"
    assert notifier.error is None, notifier.error


def sample(metrics: Metrics, name: str, labels: dict[str, str]) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
