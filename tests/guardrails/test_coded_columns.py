"""Rules on categorical codes reach the outcome of rules on the values themselves.

The daemon hands the guardrails each fast-lane batch's categorical columns also as the
model's dictionary codes. Every batch here is evaluated twice, with and without the codes,
and the evaluations must agree decision by decision: values allowed, unseen, missing, and
past the dictionary's limit (the overflow code), in any order and on any subset.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec
import numpy as np
import pytest

from monitor.categories import CategoryCoder
from monitor.config import Config
from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.events import Event
from monitor.guardrails import DecisionBatch, Evaluation
from monitor.guardrails.batch import Coded
from monitor.replay import FileRecord
from tests.guardrails.support import MODEL, config_text, event, guardrails, model_config

RULES: list[dict[str, Any]] = [
    {"name": "region-known", "kind": "categories", "feature": "region", "action": "review"},
    {"name": "has-channel", "kind": "required", "features": ["channel"], "action": "alert"},
    {"name": "complete", "kind": "required", "features": ["income", "region"], "action": "block"},
    {
        "name": "eu-web",
        "kind": "expression",
        "expression": "features.region = 'eu' and features.channel = 'web'",
        "action": "review",
    },
]
REGIONS = ["eu", "us", "apac", "mars", "", None, "absent"]
NOW = 1_764_300_000.0


def records(count: int, seed: int) -> list[FileRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        features: dict[str, object] = {"income": 100.0 + i, "channel": rng.choice(["web", None])}
        region = rng.choice(REGIONS)
        if region != "absent":
            features["region"] = region
        if rng.random() < 0.2:
            del features["channel"]
        body = {"id": f"e{i}", "model": MODEL, "ts": NOW, "features": features,
                "prediction": {"score": rng.random()}}  # fmt: skip
        out.append(FileRecord("driftd.features", 0, i, 0, msgspec.json.encode(body)))
    return out


def coded(events: list[Event], coders: dict[str, CategoryCoder]) -> dict[str, Coded]:
    """What the daemon computes for the windows, from the events' values."""
    out = {}
    for name, coder in coders.items():
        values = [(e.features or {}).get(name) for e in events]
        out[name] = Coded(coder.encode(values), coder.values)
    return out


def same(a: Evaluation, b: Evaluation) -> None:
    assert a.rule_counts == b.rule_counts
    for name in ("blocked", "review", "alert", "flagged"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.hits == b.hits


@pytest.mark.parametrize("limit", [1, 2, 100])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_codes_and_values_give_the_same_evaluation(limit: int, seed: int) -> None:
    features: dict[str, Any] = {
        "income": {"type": "numeric"},
        "region": {"type": "categorical", "categories": ["eu", "us"]},
        "channel": {"type": "categorical"},
    }
    config: Config = parse_config(config_text(RULES, features))
    events, rejected = Decoder(config, now=lambda: NOW + 60).decode(records(300, seed))
    assert not rejected and all(e.columns is not None for e in events)
    coders = {"region": CategoryCoder(limit), "channel": CategoryCoder(limit)}
    rails = guardrails(RULES, features)
    rng = random.Random(seed)
    for chosen in (events, events[::-1], rng.sample(events, 120)):
        model = config.models[MODEL]
        with_codes = DecisionBatch.from_events(chosen, model, None, coded(chosen, coders))
        assert with_codes.codes  # the coded path is taken
        without = DecisionBatch.from_events(chosen, model)
        same(rails.evaluate(with_codes), rails.evaluate(without))
        half = np.arange(0, len(chosen), 2)
        same(rails.evaluate(with_codes.take(half)), rails.evaluate(without.take(half)))


def test_codes_are_ignored_for_events_that_did_not_take_the_fast_lane() -> None:
    events = [event(i, {"income": 1.0, "region": "mars", "channel": None}) for i in range(3)]
    codes = {"region": Coded(np.zeros(3, dtype=np.int32), ["eu"])}  # would say "eu"
    batch = DecisionBatch.from_events(events, model_config(RULES), None, codes)
    assert batch.codes == {}
    evaluation = guardrails(RULES).evaluate(batch)
    assert evaluation.rule_counts["region-known"] == 3
