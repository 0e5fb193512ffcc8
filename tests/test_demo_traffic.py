"""The synthetic traffic generator: distributions, drifts, encoders, malformed messages."""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec
import numpy as np
import pytest

from monitor.config import Config, FeatureConfig
from monitor.decoder import Decoder
from monitor.demo.malformed import malformed_kinds
from monitor.demo.runner import demo_config
from monitor.demo.traffic import (
    DEFAULT_START_TS,
    DEMO_FEATURES,
    ConceptChange,
    FeatureSpec,
    MeanShift,
    NewCategory,
    SpreadChange,
    TrafficGenerator,
    demo_drifts,
    features_config,
)
from monitor.replay import FileRecord

MODEL = "credit-risk"
FEATURES_TOPIC = "features"
LABELS_TOPIC = "labels"
CONFIG = Config.model_validate(
    {
        "topics": {
            "features": FEATURES_TOPIC,
            "predictions": "predictions",
            "labels": LABELS_TOPIC,
        },
        "models": {MODEL: {"features": features_config(DEMO_FEATURES)}},
    }
)
SHAPES = (
    FeatureSpec.normal("normal", 3.0, 2.0),
    FeatureSpec.lognormal("lognormal", 1.0, 0.4),
    FeatureSpec.uniform("uniform", -2.0, 6.0),
    FeatureSpec.exponential("exponential", 5.0),
    FeatureSpec.poisson("poisson", 4.0),
    FeatureSpec.categorical("colour", {"red": 0.5, "green": 0.3, "blue": 0.2}),
)


def decoder() -> Decoder:
    return Decoder(CONFIG, now=lambda: DEFAULT_START_TS + 3600)


def records(values: list[bytes], topic: str = FEATURES_TOPIC) -> list[FileRecord]:
    ms = int(DEFAULT_START_TS * 1000)
    return [
        FileRecord(topic, partition=0, offset=i, timestamp=ms, value=v)
        for i, v in enumerate(values)
    ]


def test_numeric_features_have_the_requested_moments() -> None:
    n = 200_000
    batch = TrafficGenerator(SHAPES, seed=1).batch(n)
    for spec in SHAPES[:-1]:
        values = np.asarray(batch[spec.name])
        # Five standard errors of the mean; 2 % on the standard deviation.
        assert abs(values.mean() - spec.mean) < 5 * spec.std / math.sqrt(n), spec.name
        assert values.std() == pytest.approx(spec.std, rel=0.02), spec.name
    counts = np.asarray(batch["poisson"])
    assert np.all(counts == np.round(counts))
    assert np.asarray(batch["uniform"]).min() >= -2.0
    assert np.asarray(batch["uniform"]).max() < 6.0


def test_categorical_features_have_the_requested_shares() -> None:
    n = 100_000
    colours = list(TrafficGenerator(SHAPES, seed=2).batch(n)["colour"])
    for name, share in {"red": 0.5, "green": 0.3, "blue": 0.2}.items():
        assert colours.count(name) / n == pytest.approx(share, abs=0.01)


def test_one_batch_holds_every_column_for_every_event() -> None:
    generator = TrafficGenerator(DEMO_FEATURES, seed=3, drifts=demo_drifts(50_000))
    batch = generator.batch(100_000)
    assert {len(column) for column in batch.values()} == {100_000}


def test_same_seed_same_traffic_whatever_the_batch_sizes() -> None:
    whole = TrafficGenerator(DEMO_FEATURES, seed=4).batch(1000)
    pieces = TrafficGenerator(DEMO_FEATURES, seed=4)
    parts = [pieces.batch(n) for n in (1, 99, 400, 500)]
    other = TrafficGenerator(DEMO_FEATURES, seed=5).batch(1000)
    for column, values in whole.items():
        joined = np.concatenate([np.asarray(part[column]) for part in parts])
        assert np.array_equal(np.asarray(values), joined), column
    assert not np.array_equal(whole["income"], other["income"])
    assert whole["id"][:3] == [f"{MODEL}-0", f"{MODEL}-1", f"{MODEL}-2"]
    assert len(set(whole["id"])) == 1000


def test_timestamps_follow_the_event_rate() -> None:
    batch = TrafficGenerator(DEMO_FEATURES, start_ts=100.0, events_per_second=4.0).batch(9)
    assert list(batch["ts"]) == [100.0 + i / 4 for i in range(9)]


def test_mean_shift_and_spread_change_apply_from_their_index() -> None:
    start, n = 1000, 50_000
    spec = SHAPES[1]  # lognormal: its mean and spread are not its parameters
    plain = TrafficGenerator(SHAPES, seed=6).batch(n)
    shifted = TrafficGenerator(SHAPES, seed=6, drifts=[MeanShift(spec.name, 2.0, start)]).batch(n)
    spread = TrafficGenerator(SHAPES, seed=6, drifts=[SpreadChange(spec.name, 3.0, start)]).batch(n)
    before, after = slice(0, start), slice(start, n)
    base = np.asarray(plain[spec.name])
    assert np.array_equal(np.asarray(shifted[spec.name])[before], base[before])
    assert np.allclose(np.asarray(shifted[spec.name])[after], base[after] + 2.0 * spec.std)
    assert np.array_equal(np.asarray(spread[spec.name])[before], base[before])
    assert np.asarray(spread[spec.name])[after].std() == pytest.approx(3 * spec.std, rel=0.05)
    assert np.asarray(spread[spec.name])[after].mean() == pytest.approx(spec.mean, rel=0.05)
    # Other features are untouched by a drift of one.
    assert np.array_equal(shifted["normal"], plain["normal"])


def test_new_category_takes_its_share_and_the_others_keep_theirs() -> None:
    start, n = 2000, 60_000
    drift = NewCategory("colour", "purple", 0.25, start)
    plain = list(TrafficGenerator(SHAPES, seed=7).batch(n)["colour"])
    drifted = list(TrafficGenerator(SHAPES, seed=7, drifts=[drift]).batch(n)["colour"])
    assert "purple" not in drifted[:start]
    assert drifted[:start] == plain[:start]
    after = drifted[start:]
    assert after.count("purple") / len(after) == pytest.approx(0.25, abs=0.01)
    for name, share in {"red": 0.5, "green": 0.3, "blue": 0.2}.items():
        assert after.count(name) / len(after) == pytest.approx(0.75 * share, abs=0.01)
    # A row keeps its original category unless the new one took it.
    assert all(d in (p, "purple") for d, p in zip(after, plain[start:], strict=True))


def test_concept_change_moves_the_error_rate() -> None:
    start, n = 40_000, 80_000
    generator = TrafficGenerator(
        DEMO_FEATURES, seed=8, error_rate=0.1, drifts=[ConceptChange(0.4, start)]
    )
    batch = generator.batch(n)
    wrong = np.asarray(batch["predicted_label"]) != np.asarray(batch["true_label"])
    assert wrong[:start].mean() == pytest.approx(0.1, abs=0.01)
    assert wrong[start:].mean() == pytest.approx(0.4, abs=0.01)
    assert generator.error_rate_at(start - 1) == 0.1
    assert generator.error_rate_at(start) == 0.4
    # Only the ground truth changes: the model still sees the same inputs.
    plain = TrafficGenerator(DEMO_FEATURES, seed=8).batch(n)
    assert np.array_equal(plain["score"], batch["score"])


def test_the_model_scores_with_the_features() -> None:
    batch = TrafficGenerator(DEMO_FEATURES, seed=9).batch(20_000)
    score = np.asarray(batch["score"])
    assert np.all((score > 0) & (score < 1))
    assert np.array_equal(batch["predicted_label"], (score >= 0.5).astype(np.int8))
    # debt_to_income has the largest positive weight in the demo model.
    assert np.corrcoef(np.asarray(batch["debt_to_income"]), score)[0, 1] > 0.3
    assert 0.05 < np.asarray(batch["predicted_label"]).mean() < 0.6


def test_encoded_messages_are_valid_native_events() -> None:
    generator = TrafficGenerator(DEMO_FEATURES, seed=10, drifts=demo_drifts(0))
    batch = generator.batch(200)
    full = generator.encode_events(batch)
    features = generator.encode_features(batch)
    predictions = generator.encode_predictions(batch)
    labels = generator.encode_labels(batch, delay_seconds=5.0)
    first = msgspec.json.decode(full[0])
    assert list(first) == ["id", "model", "version", "ts", "features", "prediction"]
    assert list(first["prediction"]) == ["score", "label"]
    assert list(msgspec.json.decode(features[0])) == ["id", "model", "ts", "features"]
    assert list(msgspec.json.decode(predictions[0])) == ["id", "model", "ts", "prediction"]
    label = msgspec.json.decode(labels[0])
    assert label == {
        "id": f"{MODEL}-0",
        "model": MODEL,
        "ts": DEFAULT_START_TS + 5.0,
        "label": int(batch["true_label"][0]),
    }
    # The demo config declares "partner" nowhere: new categories must still be accepted.
    for values in (full, features, predictions):
        events, rejected = decoder().decode(records(values))
        assert rejected == []
        assert len(events) == 200
    events, rejected = decoder().decode(records(labels, topic=LABELS_TOPIC))
    assert rejected == [] and len(events) == 200
    assert events[7].label == float(batch["true_label"][7])


def test_every_malformed_kind_gets_its_reason_from_the_real_decoder() -> None:
    generator = TrafficGenerator(DEMO_FEATURES, seed=11)
    kinds = dict(malformed_kinds(DEMO_FEATURES))
    messages = generator.malformed(3 * len(kinds), np.random.default_rng(0), CONFIG.limits)
    assert {m.kind for m in messages} == set(kinds)
    # One batch, so the decoder's per-column checks see them mixed.
    events, rejected = decoder().decode(records([m.payload for m in messages]))
    assert events == []
    got = {r.record.offset: r.reason for r in rejected}
    for offset, message in enumerate(messages):
        assert got.get(offset) == message.reason, message.kind
        assert message.reason == kinds[message.kind]
    # And one at a time, so no check depends on a neighbour.
    for message in messages[: len(kinds)]:
        events, rejected = decoder().decode(records([message.payload]))
        assert [r.reason for r in rejected] == [message.reason], message.kind


def test_malformed_messages_are_deterministic_and_cover_kinds_in_rounds() -> None:
    def make() -> list[bytes]:
        generator = TrafficGenerator(DEMO_FEATURES, seed=12)
        return [m.payload for m in generator.malformed(40, np.random.default_rng(3))]

    assert make() == make()
    generator = TrafficGenerator(DEMO_FEATURES, seed=12)
    count = len(malformed_kinds(DEMO_FEATURES))
    first_round = generator.malformed(count, np.random.default_rng(4))
    assert len({m.kind for m in first_round}) == count


def test_malformed_kinds_needing_a_missing_feature_are_left_out() -> None:
    only_numbers = (FeatureSpec.normal("x", 0.0, 1.0),)
    kinds = {kind for kind, _ in malformed_kinds(only_numbers)}
    assert "missing_required_feature" not in kinds
    assert "category_too_long" not in kinds
    assert "nan_literal" in kinds


def test_demo_yaml_declares_the_demo_features() -> None:
    config = demo_config("127.0.0.1:9092")
    declared = config.models[MODEL].features
    expected = {
        name: FeatureConfig.model_validate(entry)
        for name, entry in features_config(DEMO_FEATURES).items()
    }
    assert declared == expected
    numeric = [s for s in DEMO_FEATURES if s.is_numeric]
    assert len(numeric) >= 6
    assert [len(s.categories) for s in DEMO_FEATURES if not s.is_numeric] == [5, 3, 12]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FeatureSpec.normal("score", 0, 1), "reserved"),
        (lambda: FeatureSpec.normal("x", 0, 0), "positive spread"),
        (lambda: FeatureSpec.categorical("c", {"a": 0.0}), "positive sum"),
        (lambda: TrafficGenerator(SHAPES, drifts=[MeanShift("colour", 1.0)]), "numeric"),
        (lambda: TrafficGenerator(SHAPES, drifts=[NewCategory("colour", "red", 0.1)]), "new"),
        (lambda: TrafficGenerator(SHAPES, drifts=[MeanShift("nope", 1.0)]), "unknown"),
    ],
)
def test_invalid_specs_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
