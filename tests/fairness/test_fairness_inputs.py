"""Protected attributes in events and the fairness/challenger config: decoding, joining,
dead letters, logging, and config errors that name their key."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import yaml
from scipy.stats import binomtest

from detectors.fairness import (
    disparate_impact,
    equalized_odds_gap,
    group_rates,
    rate_gap,
    wilson_interval,
)
from monitor import logs
from monitor.config_fairness import ChallengerConfig, FairnessConfig
from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.errors import ConfigError
from monitor.events import Reasons
from monitor.join import JoinBuffer
from monitor.outputs import event_body
from monitor.replay import FileRecord
from tests.fairness.streams import NOW

CONFIG = """
limits: {max_category_length: 8}
models:
  m:
    features:
      x: {type: numeric}
      region: {type: categorical}
    fairness:
      attributes: {gender: attribute, region: feature}
"""


def decode(*bodies: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    records = [
        FileRecord("driftd.features", 0, i, 1_764_300_000_000, msgspec.json.encode(b))
        for i, b in enumerate(bodies)
    ]
    return Decoder(parse_config(CONFIG), now=lambda: NOW).decode(records)


def body(**extra: Any) -> dict[str, Any]:
    return {"id": "a", "model": "m", "ts": NOW - 10, "features": {"x": 1.0}, **extra}


def test_attributes_are_decoded_canonically_and_kept_apart_from_features() -> None:
    events, rejected = decode(body(attributes={"gender": "f", "age_band": 3, "minor": False}))
    assert rejected == []
    assert events[0].attributes == {"gender": "f", "age_band": "3", "minor": "false"}
    assert events[0].features == {"x": 1.0}
    assert event_body(events[0])["attributes"] == events[0].attributes
    plain, _ = decode(body())
    assert plain[0].attributes is None and "attributes" not in event_body(plain[0])


def test_bad_attributes_are_dead_letters_with_a_reason() -> None:
    events, rejected = decode(
        body(attributes={"gender": "x" * 9}), body(attributes=["f"]), body(id="ok")
    )
    assert [e.id for e in events] == ["ok"]
    assert [r.reason for r in rejected] == [Reasons.WRONG_TYPE, Reasons.SCHEMA]
    assert "attribute 'gender' longer than 8" in rejected[0].detail


def test_split_halves_carry_attributes_through_the_join_and_its_checkpoint() -> None:
    features = body(attributes={"gender": "f"})
    prediction = {"id": "a", "model": "m", "ts": NOW - 10, "prediction": {"label": 1}}
    (first,), _ = decode(features)
    (second,), _ = decode(prediction)
    join = JoinBuffer(300.0, 10)
    assert join.add([first]).completed == []
    restored = JoinBuffer(300.0, 10)
    restored.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(join.snapshot())))
    (merged,) = restored.add([second]).completed
    assert merged.attributes == {"gender": "f"} and merged.prediction == {"label": 1.0}


def test_attribute_values_are_not_logged_by_default() -> None:
    stream = io.StringIO()
    with redirect_stderr(stream):
        logs.configure(fmt="json")
        logs.get_logger("t").info("event", attributes={"gender": "f"})
    assert json.loads(stream.getvalue().splitlines()[-1])["attributes"] == "<redacted>"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            "    fairness: {attributes: {gender: feature}}\n",
            "models.m (line 2): Value error, fairness.attributes.gender: not a declared",
        ),
        (
            "    fairness: {attributes: {x: feature}}\n",
            "fairness.attributes.x: not a declared categorical feature",
        ),
        ("    fairness: {attributes: {}}\n", "models.m.fairness.attributes"),
        ("    fairness: {attributes: {g: attribute}, bound: 1}\n", "models.m.fairness.bound"),
        (
            "    fairness: {attributes: {g: attribute}, disparate_impact_min: 1.5}\n",
            "models.m.fairness.disparate_impact_min",
        ),
        ("    task: regression\n    fairness: {attributes: {g: attribute}}\n", "classification"),
        ("    challenger: nobody\n", "models.m.challenger: model 'nobody' is not configured"),
        ("    challenger: m\n", "a model cannot challenge itself"),
        ("    challenger: {model: n, margin: 0}\n", "models.m.challenger.margin"),
    ],
)
def test_config_mistakes_name_their_key(snippet: str, expected: str) -> None:
    text = (
        "models:\n  m:\n    features:\n      x: {type: numeric}\n"
        + snippet
        + "  n:\n    features:\n      x: {type: numeric}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="cfg")
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_config_shorthands_and_defaults() -> None:
    text = (
        "models:\n  m:\n    features: {x: {type: numeric}}\n"
        "    fairness: {attributes: {g: attribute}, positive_label: 1}\n"
        "    challenger: n\n"
        "  n:\n    features: {x: {type: numeric}}\n"
    )
    model = parse_config(text).models["m"]
    assert model.fairness is not None and model.challenger is not None
    assert model.fairness.positive_label == "1"
    assert model.fairness.disparate_impact_min == 0.8 and model.fairness.max_gap == 0.1
    assert model.fairness.min_group_size == 30 and model.fairness.max_groups == 10
    assert model.challenger.model == "n" and model.challenger.consecutive_windows == 3


# -- statistics against scipy and hand computation ------------------------------------------


def test_wilson_interval_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    trials = rng.integers(1, 400, 60)
    successes = rng.integers(0, trials + 1)
    for confidence in (0.9, 0.95, 0.99):
        low, high = wilson_interval(successes, trials, confidence)
        for k, n, lo, hi in zip(successes, trials, low, high, strict=True):
            ci = binomtest(int(k), int(n)).proportion_ci(confidence, method="wilson")
            assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)
    low, high = wilson_interval([0, 0], [0, 5])
    assert low.tolist()[0] == 0.0 and high.tolist()[0] == 1.0  # no trials: no information
    zero_of_five = binomtest(0, 5).proportion_ci(method="wilson")
    assert low[1] == 0.0 and high[1] == pytest.approx(zero_of_five.high)


def test_disparities_by_hand() -> None:
    # Rates: a 60/100 = 0.6, b 45/150 = 0.3, c 3/10 (too small), d 20/50 = 0.4.
    rates = group_rates([60, 45, 3, 20], [100, 150, 10, 50], min_group_size=30)
    di = disparate_impact(rates)
    assert di.value == pytest.approx(0.3 / 0.6) and (di.lowest, di.highest) == (1, 0)
    assert di.separated  # [0.23, 0.38] lies below [0.50, 0.69]
    assert rate_gap(rates).value == pytest.approx(0.3)
    # Excluding b leaves d as the lowest: 0.4 / 0.6, intervals overlapping.
    without_b = disparate_impact(rates, [True, False, True, True])
    assert without_b.value == pytest.approx(0.4 / 0.6) and not without_b.separated
    assert disparate_impact(group_rates([0, 0], [40, 40])).value == 1.0
    tpr = group_rates([40, 20], [50, 50])  # 0.8 vs 0.4
    fpr = group_rates([10, 10], [50, 50])  # equal
    gap, which = equalized_odds_gap(tpr, fpr)
    assert gap.value == pytest.approx(0.4) and which == "true_positive_rate"


@pytest.mark.parametrize(
    "call",
    [
        lambda: wilson_interval([3], [2]),
        lambda: wilson_interval([1], [2], confidence=1.0),
        lambda: group_rates([-1], [2]),
        lambda: group_rates([1.5], [2]),
        lambda: group_rates([1], [2], min_group_size=0),
        lambda: disparate_impact(group_rates([1, 1], [40, 40]), [True]),
    ],
)
def test_bad_arguments_raise_value_error(call: Any) -> None:
    with pytest.raises(ValueError):
        call()


def test_documented_options_are_the_defaults() -> None:
    """docs/governance.md shows every fairness and challenger option with its default."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "governance.md").read_text("utf-8")
    section = doc[doc.index("## Fairness monitoring") :]
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)]
    models = [b["models"]["credit-risk"] for b in blocks if "models" in b]
    fairness = next(m["fairness"] for m in models if "fairness" in m)
    attributes = fairness["attributes"]
    assert FairnessConfig.model_validate(fairness) == FairnessConfig(attributes=attributes)
    challenger = next(m["challenger"] for m in models if "challenger" in m)
    assert ChallengerConfig.model_validate(challenger) == ChallengerConfig(model="credit-risk-v2")
