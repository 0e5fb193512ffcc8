"""Every series the dashboard and the alert rules query exists on a real driftd's /metrics.

A ``driftd run`` subprocess on the embedded broker gets traffic that makes every metric
appear: a warm-up reference, windows that close, a mean shift that fires drift alerts,
labels (for the concept-drift error signal), guardrail rules with every outcome, malformed
messages for dead letters, and a webhook sink on a loopback receiver so deliveries happen.
Then the names (and the labels the queries match on) are compared with the exposition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from monitor.broker import EmbeddedBroker
from monitor.config import InputLimits
from monitor.demo.traffic import (
    ConceptChange,
    FeatureSpec,
    MeanShift,
    TrafficGenerator,
    features_config,
)
from tests.kafkatools import DaemonProcess, create_topics, produce, running_daemon, unique
from tests.kafkatools import write_config as write_base_config
from tests.notify.receiver import Receiver
from tests.observability.promql import (
    SCRAPE_SERIES,
    TARGET_LABELS,
    dashboard_queries,
    load_dashboard,
    load_rules,
    metric_names,
    selectors,
)

pytestmark = pytest.mark.integration

MODEL = "credit-risk"
WARMUP = 1000
WINDOW = 500
CLEAN_AFTER_WARMUP = 500
DRIFTED = 1500  # three windows: two drifted in a row fire the alert
EVENTS = WARMUP + CLEAN_AFTER_WARMUP + DRIFTED
MALFORMED = 24
LIMITS = InputLimits(max_message_bytes=65536)
SECRET_ENV = "DRIFTD_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIs3jh9SaFPc="
FEATURES = (
    FeatureSpec.lognormal("income", 10.8, 0.5, weight=-0.9, required=True),
    FeatureSpec.uniform("age", 18.0, 75.0, weight=-0.3),
    FeatureSpec.normal("debt_to_income", 0.35, 0.12, weight=1.2),
    FeatureSpec.categorical("region", {"north": 0.4, "south": 0.35, "east": 0.25}),
)
GUARDRAILS = [
    # Hits mostly once debt_to_income has shifted: review.
    {"name": "dti-cap", "kind": "range", "feature": "debt_to_income", "max": 0.6,
     "action": "review"},
    {"name": "uncertain", "kind": "score_band", "low": 0.45, "high": 0.55, "action": "review"},
    # About 5 % of decisions: blocked.
    {"name": "senior", "kind": "expression", "expression": "features.age > 72",
     "action": "block"},
    {"name": "extreme", "kind": "score_band", "low": 0.02, "high": 0.98, "outside": True,
     "action": "alert"},
]  # fmt: skip


def driftd_config(path: Path, bootstrap: str, topics: dict[str, str], hook_url: str) -> int:
    config = write_base_config(
        path,
        bootstrap,
        {
            "topics": {
                "features": topics["events"],
                "predictions": None,
                "labels": topics["labels"],
                "review": topics["review"],
                "alerts": topics["alerts"],
                "dead_letter": topics["dead"],
            },
            "kafka": {"consumer": {"group_id": unique("observability")}},
            # Release labels to the error detector as soon as they are matched.
            "labels": {"reorder_seconds": 0},
            "alerts": {
                "sinks": {
                    "hook": {"type": "webhook", "url": hook_url, "secret": {"env": SECRET_ENV}}
                },
                "routes": [{"sinks": ["hook"]}],
            },
            "checkpoint": {"interval_seconds": 0.5},
            # Small, so the oversized malformed messages stay cheap to send.
            "limits": {"max_message_bytes": LIMITS.max_message_bytes},
        },
    )
    config["models"] = {
        MODEL: {
            "features": features_config(FEATURES),
            "reference": {"warmup_events": WARMUP},
            "windows": [{"type": "tumbling", "size": WINDOW}],
            "guardrails": GUARDRAILS,
            # Fairness windows over region (decisions and, with the labels, labelled ones).
            "fairness": {"attributes": {"region": "feature"}},
        }
    }
    path.write_text(yaml.safe_dump(config))
    return int(config["server"]["port"])


def traffic() -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Events (clean, then drifted), their labels, and malformed messages."""
    start = WARMUP + CLEAN_AFTER_WARMUP
    generator = TrafficGenerator(
        FEATURES,
        seed=17,
        model=MODEL,
        drifts=(MeanShift("debt_to_income", 2.0, start), ConceptChange(0.45, start)),
    )
    batch = generator.batch(EVENTS)
    malformed = generator.malformed(MALFORMED, np.random.default_rng(3), LIMITS)
    return (
        generator.encode_events(batch),
        generator.encode_labels(batch, delay_seconds=1.0),
        [m.payload for m in malformed],
    )


def exposition(daemon: DaemonProcess) -> dict[str, set[str]]:
    """Sample name -> label names, from /metrics."""
    status, body = daemon.http("/metrics")
    assert status == 200
    series: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            series.setdefault(sample.name, set()).update(sample.labels)
    return series


def queried() -> dict[str, list[tuple[str, str]]]:
    """Series name -> where it is queried, over the dashboard and the alert rules."""
    where: dict[str, list[tuple[str, str]]] = {}
    queries = [(f"dashboard {w}", q) for w, q in dashboard_queries(load_dashboard())]
    queries += [(f"rule {rule['alert']}", rule["expr"]) for rule in load_rules()]
    for place, expr in queries:
        for name in metric_names(expr) - SCRAPE_SERIES:
            where.setdefault(name, []).append((place, expr))
    return where


def missing_from(series: dict[str, set[str]], wanted: dict[str, Any]) -> list[str]:
    return sorted(name for name in wanted if name not in series)


def test_every_queried_series_is_exposed_by_a_running_daemon(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = queried()
    assert len(wanted) >= 20, sorted(wanted)
    topics = {name: unique(name) for name in ("events", "labels", "review", "alerts", "dead")}
    create_topics(broker.bootstrap, dict.fromkeys(topics.values(), 1))
    events, labels, malformed = traffic()
    monkeypatch.setenv(SECRET_ENV, WEBHOOK_SECRET)
    receiver = Receiver().start()
    try:
        config_path = tmp_path / "driftd.yaml"
        port = driftd_config(config_path, broker.bootstrap, topics, receiver.url())
        with running_daemon(config_path, port, tmp_path / "daemon.log") as daemon:
            daemon.wait_ready()
            key = MODEL.encode()
            # Malformed messages among the first events, so they are dead-lettered early.
            messages = [(topics["events"], key, value) for value in events[:100]]
            messages += [(topics["events"], key, value) for value in malformed]
            messages += [(topics["events"], key, value) for value in events[100:]]
            produce(broker.bootstrap, messages)
            produce(broker.bootstrap, ((topics["labels"], key, value) for value in labels))
            series: dict[str, set[str]] = {}

            def everything_exposed() -> bool:
                series.clear()
                series.update(exposition(daemon))
                return not missing_from(series, wanted)

            try:
                daemon.wait_for(everything_exposed, 90, "exposing every queried series")
            except AssertionError as exc:
                lines = [
                    f"  {name} (queried by {', '.join(p for p, _ in wanted[name])})"
                    for name in missing_from(series, wanted)
                ]
                raise AssertionError(
                    "series queried by the dashboard or the alert rules but never exposed:\n"
                    + "\n".join(lines)
                ) from exc
            assert daemon.metric("driftd_alerts_total", {"kind": "data_drift"})
            assert receiver.accepted, "the webhook sink received no alert"
    finally:
        receiver.stop()

    # The labels each query matches on exist on the series (or are added by the scrape).
    wrong = []
    for name, places in wanted.items():
        for place, expr in places:
            for selected, matched in selectors(expr):
                if selected == name:
                    unknown = matched - series[name] - TARGET_LABELS
                    if unknown:
                        wrong.append(f"{place}: {name} has no label {sorted(unknown)}")
    assert not wrong, "\n".join(sorted(set(wrong)))
