"""Bounded memory whatever the cardinality of the input: a categorical feature with
100 000 distinct values, thousands of unknown models, hundreds of segment values."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import msgspec
import numpy as np
from prometheus_client import CollectorRegistry

from monitor.categories import OVERFLOW, CategoryCoder
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

MODEL = "credit-risk"
TOPIC = "in"
NOW = 1_764_400_000.0
MILLIS = int(NOW * 1000)
DISTINCT = 100_000
LIMIT = 10_000  # the default of limits.max_categories_per_feature
MAX_SEGMENTS = 5


def pipeline() -> tuple[Pipeline, Metrics, Config]:
    config = Config.model_validate(
        {
            "topics": {"features": TOPIC, "predictions": None, "dead_letter": "dead"},
            "limits": {"max_categories_per_feature": LIMIT},
            "models": {
                MODEL: {
                    "features": {
                        "amount": {"type": "numeric", "required": True},
                        "merchant": {"type": "categorical"},
                        "region": {"type": "categorical"},
                    },
                    "segments": ["region"],
                    "max_segments": MAX_SEGMENTS,
                    "windows": [{"type": "tumbling", "size": 5000}],
                    "reference": {"warmup_events": 5000},
                }
            },
        }
    )
    metrics = Metrics(CollectorRegistry())
    return Pipeline(config, metrics, now=lambda: NOW), metrics, config


def event(i: int, **features: Any) -> bytes:
    body = {
        "id": f"e{i}",
        "model": MODEL,
        "ts": NOW - 10_000 + i * 0.01,
        "features": {"amount": float(i % 97), **features},
        "prediction": {"score": (i % 13) / 13},
    }
    return msgspec.json.encode(body)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def label_values(metrics: Metrics, label: str) -> set[str]:
    return {
        s.labels[label]
        for family in metrics.registry.collect()
        for s in family.samples
        if label in s.labels
    }


def test_100k_distinct_categories_stay_bounded() -> None:
    pipe, metrics, _ = pipeline()
    sizes, memory = {}, {}
    offset = 0
    tracemalloc.start()
    try:
        for _ in range(0, DISTINCT, 5000):
            records = [
                FileRecord(
                    TOPIC,
                    0,
                    offset + k,
                    MILLIS,
                    event(offset + k, merchant=f"m-{offset + k}", region="eu"),
                )
                for k in range(5000)
            ]
            offset += len(records)
            pipe.process(records)
            if offset in (30_000, DISTINCT):
                gc.collect()
                memory[offset] = tracemalloc.get_traced_memory()[0]
                sizes[offset] = len(pipe.snapshot(0))
    finally:
        tracemalloc.stop()
    coder = pipe.tasks[0].models[MODEL].coders["merchant"]
    # The dictionary stops at its limit; every later new value is counted as overflow.
    assert len(coder.values) == len(coder.index) == LIMIT
    assert sample(metrics, "driftd_category_overflow_total", model=MODEL, feature="merchant") == (
        DISTINCT - LIMIT
    )
    # Memory and checkpoints do not grow past the limit (70 000 more distinct values
    # between the two measurements).
    assert memory[DISTINCT] - memory[30_000] < 2_000_000, memory
    assert sizes[DISTINCT] - sizes[30_000] < 100_000, sizes
    # Overflowed values count as unseen: every window after warm-up holds values the
    # reference never saw, so the categorical tests see a complete shift.
    labels = {"model": MODEL, "segment": "", "window": "tumbling-5000", "feature": "merchant"}
    assert sample(metrics, "driftd_drift_detected", **labels, test="chi2") == 1
    assert sample(metrics, "driftd_drift_statistic", **labels, test="psi") > 1


def test_overflow_codes_count_as_unseen() -> None:
    coder = CategoryCoder(limit=3)
    codes = coder.encode(["a", "b", "c", "d", "e", "a", None])
    assert codes.tolist()[3:5] == [OVERFLOW, OVERFLOW] and coder.overflowed == 2
    counts = coder.counts_against(codes, ["a", "b", "c"])
    assert counts.tolist() == [2, 1, 1, 2]  # d and e in the unseen bucket, None not counted
    pooled = coder.counts_against(codes, ["a", "b", "rare"], unknown_to="rare")
    assert pooled.tolist() == [2, 1, 3, 0]  # c, d, e pooled into "rare"
    assert np.array_equal(codes, coder.encode(["a", "b", "c", "d", "e", "a", None]))
    assert coder.overflowed == 4  # repeats of values past the limit count again


def test_unknown_models_are_dead_lettered_and_leave_no_state() -> None:
    pipe, metrics, config = pipeline()
    records = []
    for i in range(5000):
        body = msgspec.json.decode(event(i, merchant="m", region="eu"))
        body["model"] = f"model-{i}"
        records.append(FileRecord(TOPIC, 0, i, MILLIS, msgspec.json.encode(body)))
    outputs = pipe.process(records)
    letters = [msgspec.json.decode(o.value) for o in outputs if o.topic == "dead"]
    assert len(letters) == 5000 and {x["reason"] for x in letters} == {"unknown_model"}
    assert sample(metrics, "driftd_dead_letters_total", topic=TOPIC, reason="unknown_model") == 5000
    assert all(not task.models for task in pipe.tasks.values())
    # No metric carries a model name it was not configured with.
    assert label_values(metrics, "model") <= set(config.models)


def test_segments_beyond_max_segments_fold_into_other() -> None:
    pipe, metrics, _ = pipeline()
    records = [
        FileRecord(TOPIC, 0, i, MILLIS, event(i, merchant=f"m{i % 50}", region=f"r{i % 500}"))
        for i in range(60_000)
    ]
    for start in range(0, len(records), 10_000):
        pipe.process(records[start : start + 10_000])
    monitoring = pipe.tasks[0].models[MODEL]
    assert len(monitoring._segment_values) == MAX_SEGMENTS
    segments = {segment for _, segment in monitoring.streams}
    assert "region=__other__" in segments
    assert len(segments) == MAX_SEGMENTS + 2  # the whole model (""), the kept ones, other
    assert label_values(metrics, "segment") <= segments
