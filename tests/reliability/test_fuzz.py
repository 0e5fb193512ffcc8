"""Hostile input: hypothesis-generated messages through the real pipeline in process
(over 10 000 in all); a seeded batch through the real broker and daemon is in
``test_fuzz_broker.py``. Nothing
crashes, every message is either processed or dead-lettered with a known reason, and the
counts add up exactly:

    records consumed = dead letters at decoding + full events + 2 x joined pairs
                       + halves pending + halves expired + duplicate halves + labels
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord
from tests.reliability.fuzz_accounting import (
    DEAD,
    FEATURES,
    MILLIS,
    PREDICTIONS,
    check_letters,
    draw_batch,
    ground_truth,
    make_config,
)
from tests.reliability.fuzz_messages import (
    MODEL,
    NOW,
    HypothesisDraw,
    RandomDraw,
    valid_body,
)

HOSTILE = 120  # drawn by hypothesis, per example
FILLER = 500  # valid traffic around them, per example
EXAMPLES = 17  # 17 x 620 = 10 540 messages, and 10 x 620 more with expiry


def value(metrics: Metrics, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


class Fuzz:
    """One pipeline fed example after example, with its running totals."""

    def __init__(self, **join: Any) -> None:
        self.config = make_config(**join)
        self.metrics = Metrics(CollectorRegistry())
        self.pipeline = Pipeline(self.config, self.metrics, now=lambda: NOW)
        self.offsets = Counter[tuple[str, int]]()
        self.records: list[FileRecord] = []
        self.letters: list[dict[str, Any]] = []

    def feed(self, values: Sequence[tuple[str, int, bytes | None]]) -> None:
        batch = []
        for topic, partition, val in values:
            offset = self.offsets[(topic, partition)]
            self.offsets[(topic, partition)] += 1
            batch.append(FileRecord(topic, partition, offset, MILLIS, val))
        outputs = self.pipeline.process(batch)  # must never raise
        self.records += batch
        self.letters += [msgspec.json.decode(o.value) for o in outputs if o.topic == DEAD]

    def check(self) -> None:
        m = self.metrics
        check_letters(self.letters)
        at_decode = {
            (x["source"]["topic"], x["source"]["partition"], x["source"]["offset"])
            for x in self.letters
            if x["reason"] != "join_expired"
        }
        decode_letters = sum(1 for x in self.letters if x["reason"] != "join_expired")
        assert decode_letters == len(at_decode), "a record was dead-lettered twice"
        expired_letters = len(self.letters) - decode_letters
        full, labels, halves = ground_truth(self.records, at_decode)
        complete = value(m, "driftd_events_total", join="complete")
        incomplete = value(m, "driftd_events_total", join="incomplete")
        pending = value(m, "driftd_join_pending")
        duplicates = value(m, "driftd_join_duplicates_total")
        pairs = complete - full
        assert pairs >= 0
        consumed = value(m, "driftd_records_consumed_total")
        assert consumed == len(self.records)
        assert value(m, "driftd_dead_letters_total") == len(self.letters)
        assert value(m, "driftd_labels_total") == labels
        assert (
            consumed
            == decode_letters
            + full
            + 2 * pairs
            + pending
            + incomplete
            + expired_letters
            + duplicates
            + labels
        )
        assert halves == 2 * pairs + pending + incomplete + expired_letters + duplicates


def filler(seed: int, size: int) -> list[tuple[str, int, bytes | None]]:
    """Valid traffic around the hostile messages, so that windows close and alerts can
    fire; generated from a seed rather than drawn, to keep each example small."""
    d = RandomDraw(seed)
    return [
        (d.choice([FEATURES, FEATURES, PREDICTIONS]), 0, msgspec.json.encode(valid_body(d)))
        for _ in range(size)
    ]


def interleave(a: list[Any], b: list[Any], seed: int) -> list[Any]:
    rng = random.Random(seed)
    out = list(a)
    for item in b:
        out.insert(rng.randrange(len(out) + 1), item)
    return out


_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
TOTALS: Counter[str] = Counter()


def run_example(fuzz: Fuzz, data: st.DataObject) -> None:
    """Hostile messages drawn by hypothesis, spread into valid traffic, in a few batches;
    every example starts from a fresh pipeline, so examples are independent."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    hostile = draw_batch(HypothesisDraw(data), HOSTILE)
    messages = interleave(filler(seed, FILLER), hostile, seed)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(messages)), max_size=4), label="cuts"))
    for start, stop in zip([0, *cuts], [*cuts, len(messages)], strict=True):
        if stop > start:
            fuzz.feed(messages[start:stop])
            fuzz.check()


@_SETTINGS
@given(st.data())
def fuzz_without_expiry(data: st.DataObject) -> None:
    fuzz = Fuzz(ttl_seconds=1e9, max_pending=1_000_000)
    run_example(fuzz, data)
    TOTALS["messages"] += len(fuzz.records)
    TOTALS.update(x["reason"] for x in fuzz.letters)
    TOTALS["duplicates"] += int(value(fuzz.metrics, "driftd_join_duplicates_total"))
    TOTALS["windows"] += int(value(fuzz.metrics, "driftd_windows_evaluated_total"))
    for task in fuzz.pipeline.tasks.values():
        model = task.models.get(MODEL)
        if model is not None:  # segments beyond max_segments were folded into __other__
            assert len(model._segment_values) <= 2


@settings(_SETTINGS, max_examples=10)
@given(st.data())
def fuzz_with_expiry_to_dead_letters(data: st.DataObject) -> None:
    fuzz = Fuzz(ttl_seconds=5, max_pending=20, on_incomplete="dead_letter")
    run_example(fuzz, data)
    TOTALS["expired"] += sum(1 for x in fuzz.letters if x["reason"] == "join_expired")


def seeded_sweep(seeds: range) -> None:
    """The same builders driven by seeded ``random.Random`` draws: a fixed corpus whose
    coverage does not depend on what hypothesis chooses to generate (its choices move with
    the constants it finds in the code under test)."""
    for seed in seeds:
        fuzz = Fuzz(ttl_seconds=1e9, max_pending=1_000_000)
        messages = interleave(filler(seed, FILLER), draw_batch(RandomDraw(seed), HOSTILE), seed)
        for start in range(0, len(messages), 250):
            fuzz.feed(messages[start : start + 250])
            fuzz.check()
        TOTALS["messages"] += len(fuzz.records)
        TOTALS.update(x["reason"] for x in fuzz.letters)


def test_fuzz_in_process() -> None:
    """Both fuzz runs and a seeded sweep, then proof that together they saw enough, and
    every kind of bad input."""
    TOTALS.clear()
    fuzz_without_expiry()
    fuzz_with_expiry_to_dead_letters()
    seeded_sweep(range(8))
    assert TOTALS["messages"] >= 10_000
    assert TOTALS["duplicates"] > 0 and TOTALS["windows"] > 0 and TOTALS["expired"] > 0
    reasons = {
        "invalid_json",
        "invalid_utf8",
        "non_finite",
        "schema",
        "unknown_model",
        "invalid_id",
        "invalid_timestamp",
        "wrong_type",
        "oversized",
        "empty",
        "missing_part",
        "missing_feature",
    }
    assert reasons <= TOTALS.keys(), TOTALS
    print(dict(TOTALS))


@pytest.mark.parametrize("depth", [1000, 2000])
def test_deeply_nested_message_is_dead_lettered_alone(depth: int) -> None:
    """msgspec raises RecursionError (not a DecodeError) past ~1000 levels, even inside a
    key it skips; it used to escape the decoder and fail the whole batch."""
    fuzz = Fuzz(ttl_seconds=1e9, max_pending=1000)
    nested = b'{"id": "n", "model": "credit-risk", "junk": ' + b"[" * depth + b"]" * depth + b"}"
    batch = [(FEATURES, 0, msgspec.json.encode(valid_body(RandomDraw(i)))) for i in range(20)]
    batch.insert(7, (FEATURES, 0, nested))
    fuzz.feed(batch)
    fuzz.check()
    assert [(x["reason"], x["detail"]) for x in fuzz.letters if x["source"]["offset"] == 7] == [
        ("invalid_json", "JSON nested too deeply")
    ]


@pytest.mark.parametrize("column", ["optional_feature", "score"])
def test_optional_numeric_column_absent_during_warmup(column: str) -> None:
    config = Config.model_validate(
        {
            "topics": {"features": FEATURES, "predictions": None},
            "models": {
                MODEL: {
                    "features": {
                        "income": {"type": "numeric", "required": True},
                        "age": {"type": "numeric"},
                    },
                    "reference": {"warmup_events": 100},
                    "windows": [{"type": "tumbling", "size": 50}],
                }
            },
        }
    )
    pipeline = Pipeline(config, Metrics(CollectorRegistry()), now=lambda: NOW)
    records = []
    for i in range(200):
        features: dict[str, Any] = {"income": float(i)}
        prediction: dict[str, Any] = {"label": 1}
        if column == "optional_feature":
            prediction["score"] = (i % 10) / 10
        else:
            features["age"] = float(i % 50)
        body = {
            "id": f"e{i}",
            "model": MODEL,
            "ts": NOW,
            "features": features,
            "prediction": prediction,
        }
        records.append(FileRecord(FEATURES, 0, i, MILLIS, msgspec.json.encode(body)))
    pipeline.process(records)
