"""Synthetic decision streams with protected attributes, labels and a challenger model.

Everything is drawn from a seeded numpy generator and kept as arrays, so that tests can
recompute any window's statistics independently of driftd.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

MODEL = "credit-risk"
CHALLENGER = "credit-risk-v2"
T0 = 1_764_300_000.0
NOW = 1_800_000_000.0
EVENTS, LABELS = "events", "labels"


@dataclass
class Stream:
    groups: np.ndarray  # attribute value per event
    approved: np.ndarray  # 0/1 decision
    truth: np.ndarray  # 0/1 ground truth
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.groups)


def approvals(
    n: int,
    shares: dict[str, float],
    rates: dict[str, float],
    seed: int,
    change_at: int | None = None,
    rates_after: dict[str, float] | None = None,
) -> Stream:
    """Decisions whose approval rate per group may change at event ``change_at``."""
    rng = np.random.default_rng(seed)
    names = list(shares)
    groups = rng.choice(names, n, p=[shares[g] for g in names])
    p = np.array([rates[g] for g in groups])
    if change_at is not None and rates_after:
        late = np.arange(n) >= change_at
        p[late] = [rates_after.get(g, rates[g]) for g in groups[late]]
    approved = (rng.random(n) < p).astype(int)
    score = np.clip(approved * 0.5 + rng.random(n) * 0.5, 0.0, 1.0)
    return Stream(groups, approved, rng.integers(0, 2, n), score)


def with_error_rates(
    n: int,
    shares: dict[str, float],
    tpr: dict[str, float],
    fpr: dict[str, float],
    seed: int,
    change_at: int | None = None,
    tpr_after: dict[str, float] | None = None,
) -> Stream:
    """Decisions with a true-positive and false-positive rate per group (truth 40 % positive)."""
    rng = np.random.default_rng(seed)
    names = list(shares)
    groups = rng.choice(names, n, p=[shares[g] for g in names])
    truth = (rng.random(n) < 0.4).astype(int)
    tp = np.array([tpr[g] for g in groups])
    if change_at is not None and tpr_after:
        late = np.arange(n) >= change_at
        tp[late] = [tpr_after.get(g, tpr[g]) for g in groups[late]]
    fp = np.array([fpr[g] for g in groups])
    p = np.where(truth == 1, tp, fp)
    approved = (rng.random(n) < p).astype(int)
    return Stream(groups, approved, truth, approved * 0.6 + rng.random(n) * 0.4)


def event_json(i: int, stream: Stream, model: str = MODEL, attribute: str = "gender") -> bytes:
    body: dict[str, Any] = {
        "id": f"e{i}",
        "model": model,
        "ts": T0 + i * 0.01,
        "features": {"x": float(stream.score[i])},
        "prediction": {"label": int(stream.approved[i]), "score": float(stream.score[i])},
        "attributes": {attribute: str(stream.groups[i])},
    }
    return msgspec.json.encode(body)


def label_json(i: int, stream: Stream, model: str = MODEL) -> bytes:
    body = {"id": f"e{i}", "model": model, "ts": T0 + i * 0.01 + 5, "label": int(stream.truth[i])}
    return msgspec.json.encode(body)


def timeline(
    decisions: list[tuple[str, bytes]], labels: list[bytes], seed: int = 5
) -> list[tuple[str, bytes]]:
    """Decisions in order; label ``i`` 200-1 000 decisions after decision ``i``, shuffled."""
    rng = np.random.default_rng(seed)
    arrival = np.arange(len(labels)) + rng.integers(200, 1000, len(labels))
    items = [(float(i), topic, v) for i, (topic, v) in enumerate(decisions)]
    items += [(float(a) + 0.5, LABELS, v) for a, v in zip(arrival, labels, strict=True)]
    items.sort(key=lambda item: item[0])
    return [(topic, value) for _, topic, value in items]


def model_config(**extra: Any) -> dict[str, Any]:
    """A cheap model: one feature, one KS test, no score tests, no concept detectors."""
    return {
        "features": {"x": {"type": "numeric"}},
        "reference": {"warmup_events": 1000},
        "windows": [{"type": "tumbling", "size": 1000}],
        "detectors": {"numeric": ["ks"], "score": []},
        "concept": {"error": None, "score": None},
        **extra,
    }


def config(models: dict[str, Any], labels: bool = False) -> Config:
    topics = {"features": EVENTS, "predictions": None, "labels": LABELS if labels else None}
    return Config.model_validate(
        {"topics": topics, "labels": {"reorder_seconds": 3.0}, "models": models}
    )


class Runner:
    """The real pipeline in process; collects the alerts it writes."""

    def __init__(self, cfg: Config) -> None:
        self.config = cfg
        self.metrics = Metrics(CollectorRegistry())
        self.pipeline = Pipeline(cfg, self.metrics, now=lambda: NOW)
        self.offsets = {EVENTS: 0, LABELS: 0}
        self.alerts: list[dict[str, Any]] = []

    def feed(self, items: list[tuple[str, bytes]], batch: int = 2000) -> None:
        for start in range(0, len(items), batch):
            records = []
            for topic, value in items[start : start + batch]:
                records.append(FileRecord(topic, 0, self.offsets[topic], 1_764_300_000_000, value))
                self.offsets[topic] += 1
            for output in self.pipeline.process(records):
                if output.topic == self.config.topics.alerts:
                    self.alerts.append(msgspec.json.decode(output.value))

    def metric(self, name: str, labels: dict[str, str]) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    def kind(self, kind: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a["kind"] == kind]
