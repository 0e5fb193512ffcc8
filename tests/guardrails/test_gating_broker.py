"""Guardrails in the daemon on the real broker: review topic, approved topic, alerts."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from monitor.broker import EmbeddedBroker
from tests.kafkatools import (
    create_topics,
    decode_values,
    produce,
    read_all,
    running_daemon,
    unique,
    write_config,
)

pytestmark = pytest.mark.integration
MODEL = "credit-risk"
N = 3000
RULES = [
    {"name": "income-range", "kind": "range", "feature": "income", "action": "review"},
    {"name": "age-present", "kind": "required", "features": ["age"], "action": "block"},
    {"name": "known-region", "kind": "categories", "feature": "region", "action": "review"},
    {"name": "uncertain", "kind": "score_band", "low": 0.45, "high": 0.55, "action": "review"},
    {
        "name": "poor-and-confident",
        "kind": "expression",
        "expression": "features.income < 1000 and prediction.score > 0.9",
        "action": "block",
    },
    {
        "name": "very-old",
        "kind": "expression",
        "expression": "features.age > 100",
        "action": "alert",
    },
]


def decisions(seed: int = 5) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """Clean decisions with violations of every rule kind injected; the expected hits."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    expected: dict[str, set[str]] = {}
    for i in range(N):
        income = rng.uniform(5_000, 200_000)
        age: float | None = rng.uniform(18, 90)
        region = rng.choice(["eu", "us"])
        score = rng.choice([rng.uniform(0.0, 0.4), rng.uniform(0.6, 1.0)])
        kind = i % 10
        if kind == 1:
            income = -50.0  # range
        elif kind == 2:
            age = None  # required
        elif kind == 3:
            region = "mars"  # unseen category
        elif kind == 4:
            score = 0.5  # uncertainty band
        elif kind == 5 and i % 20 == 5:
            income, score = 500.0, 0.95  # expression (block)
        elif kind == 6 and i % 30 == 6:
            age = 120.0  # alert-only rule: still approved
        features = {"income": income, "age": age, "region": region}
        event_id = f"d{i}"
        event = {
            "id": event_id,
            "model": MODEL,
            "ts": 1_764_300_000 + i,
            "features": features,
            "prediction": {"score": score, "label": int(score >= 0.5)},
        }
        events.append(event)
        hits: set[str] = set()
        if income < 0 or income > 1_000_000:
            hits.add("income-range")
        if age is None:
            hits.add("age-present")
        if region not in ("eu", "us"):
            hits.add("known-region")
        if 0.45 <= score <= 0.55:
            hits.add("uncertain")
        if income < 1000 and score > 0.9:
            hits.add("poor-and-confident")
        if age is not None and age > 100:
            hits.add("very-old")
        expected[event_id] = hits
    return events, expected


def test_exactly_the_violating_decisions_are_diverted(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topic, review, approved, alerts = (
        unique(x) for x in ("events", "review", "approved", "alerts")
    )
    create_topics(broker.bootstrap, {topic: 1, review: 1, approved: 1, alerts: 1})
    config_path = tmp_path / "driftd.yaml"
    config = write_config(
        config_path,
        broker.bootstrap,
        {
            "topics": {
                "features": topic,
                "predictions": None,
                "review": review,
                "approved": approved,
                "alerts": alerts,
            },
            "kafka": {"consumer": {"group_id": unique("gate")}},
        },
    )
    config["models"] = {
        MODEL: {
            "features": {
                "income": {"type": "numeric", "range": [0, 1_000_000]},
                "age": {"type": "numeric"},
                "region": {"type": "categorical", "categories": ["eu", "us"]},
            },
            "guardrails": RULES,
        }
    }
    config_path.write_text(yaml.safe_dump(config))
    events, expected = decisions()
    key = MODEL.encode()
    with running_daemon(config_path, config["server"]["port"], tmp_path / "daemon.log") as daemon:
        daemon.wait_ready()
        produce(broker.bootstrap, ((topic, key, msgspec.json.encode(e)) for e in events))
        daemon.wait_for(
            lambda: daemon.metric("driftd_events_total", {"model": MODEL}) == N, 60, "processed"
        )
    diverting = {"income-range", "age-present", "known-region", "uncertain", "poor-and-confident"}
    blocking = {"age-present", "poor-and-confident"}
    should_review = {i for i, hits in expected.items() if hits & diverting}
    reviews = {r["id"]: r for r in decode_values(read_all(broker.bootstrap, review))}
    assert set(reviews) == should_review  # no more, no fewer
    assert len(read_all(broker.bootstrap, review)) == len(should_review)
    for event_id, message in reviews.items():
        assert {r["rule"] for r in message["rules"]} == expected[event_id]
        assert message["decision"] == ("block" if expected[event_id] & blocking else "review")
        assert message["event"]["id"] == event_id and len(message["trace_id"]) == 32
        assert all(r["reason"] for r in message["rules"])
    passed = [r["id"] for r in decode_values(read_all(broker.bootstrap, approved))]
    assert sorted(passed) == sorted(set(expected) - should_review)
    assert len(passed) == len(set(passed))
    kinds = {hit for hits in expected.values() for hit in hits}
    assert kinds == {*diverting, "very-old"}  # every rule kind was exercised
    fired = [
        a for a in decode_values(read_all(broker.bootstrap, alerts)) if a["kind"] == "guardrail"
    ]
    assert [a["rule"] for a in fired if a["status"] == "firing"] == ["very-old"]
