"""Champion-challenger through the real pipeline in process, on seeded synthetic streams.

Agreement, score differences and error rates are recomputed here from the generated
arrays with numpy.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from tests.fairness.streams import (
    CHALLENGER,
    EVENTS,
    LABELS,
    MODEL,
    T0,
    Runner,
    config,
    model_config,
)

WINDOW = 500
N = 20 * WINDOW
HALF = N // 2
DELAY = 150  # the challenger's decision on an id arrives this many decisions later
LABEL_DELAY = 500


def predictions(truth: np.ndarray, error: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    wrong = rng.random(len(truth)) < error
    return np.where(wrong, 1 - truth, truth)


def decision(i: int, model: str, label: int, score: float) -> bytes:
    body = {
        "id": f"e{i}",
        "model": model,
        "ts": T0 + i * 0.01,
        "features": {"x": score},
        "prediction": {"label": label, "score": score},
    }
    return msgspec.json.encode(body)


def build(seed: int, improve_at: int | None, missing: float = 0.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, N)
    champion = predictions(truth, np.full(N, 0.2), rng)
    challenger_error = np.full(N, 0.2)
    if improve_at is not None:
        challenger_error[improve_at:] = 0.1
    challenger = predictions(truth, challenger_error, rng)
    scores = rng.random((2, N)) * 0.5 + np.vstack([champion, challenger]) * 0.5
    present = rng.random(N) >= missing  # challenger decisions that exist at all
    items: list[tuple[int, str, bytes]] = []
    for i in range(N):
        items.append((2 * i, EVENTS, decision(i, MODEL, int(champion[i]), float(scores[0, i]))))
        if present[i]:
            value = decision(i, CHALLENGER, int(challenger[i]), float(scores[1, i]))
            items.append((2 * (i + DELAY) + 1, EVENTS, value))
    # Labels (of the champion only: the truth is about the event) 500 decisions later, in
    # order, so that each labelled window is a contiguous run of events.
    for i in range(N):
        body = {"id": f"e{i}", "model": MODEL, "ts": T0 + i * 0.01 + 5, "label": int(truth[i])}
        items.append((2 * (i + LABEL_DELAY) + 1, LABELS, msgspec.json.encode(body)))
    items.sort(key=lambda item: item[0])
    return {
        "truth": truth,
        "champion": champion,
        "challenger": challenger,
        "scores": scores,
        "present": present,
        "stream": [(topic, value) for _, topic, value in items],
    }


def run(data: dict[str, Any], labels: bool, **challenger: Any) -> Runner:
    models = {
        MODEL: model_config(challenger={"model": CHALLENGER, "window": WINDOW, **challenger}),
        CHALLENGER: model_config(),
    }
    runner = Runner(config(models, labels=labels))
    stream = data["stream"] if labels else [s for s in data["stream"] if s[0] == EVENTS]
    runner.feed(stream)
    return runner


def test_better_challenger_alerts_after_k_windows_not_before() -> None:
    data = build(seed=21, improve_at=HALF)
    runner = run(data, labels=True, margin=0.05, consecutive_windows=3)
    alerts = runner.kind("challenger")
    assert [a["status"] for a in alerts] == ["firing"], alerts
    alert = alerts[0]
    assert alert["severity"] == "info"
    assert alert["dedup_key"] == f"driftd/challenger/{MODEL}/{CHALLENGER}"
    # Windows 10, 11 and 12 are the first three after the change: it fires at the third.
    assert alert["window"]["index"] == HALF // WINDOW + 2
    assert alert["better_since"]["index"] == HALF // WINDOW
    start, end = alert["window"]["start"]["offset"], alert["window"]["end"]["offset"]
    # Decisions and challenger decisions share the topic: offsets are positions in the
    # merged stream; recover the event index from the ids there.
    ids = event_ids(data["stream"])
    rows = np.array([ids[o] for o in range(start, end + 1) if o in ids])
    assert rows.tolist() == list(range(rows[0], rows[0] + WINDOW))
    truth = data["truth"]
    champion_error = float(np.mean(data["champion"][rows] != truth[rows]))
    challenger_error = float(np.mean(data["challenger"][rows] != truth[rows]))
    assert alert["champion_error_rate"] == pytest.approx(champion_error)
    assert alert["challenger_error_rate"] == pytest.approx(challenger_error)
    assert alert["statistic"] == pytest.approx(champion_error - challenger_error)
    assert alert["statistic"] >= 0.05
    pair = {"model": MODEL, "challenger": CHALLENGER}
    assert runner.metric("driftd_challenger_matched_total", pair) == N
    assert runner.metric("driftd_alerts_firing", {"model": MODEL, "kind": "challenger"}) == 1


def event_ids(stream: list[tuple[str, bytes]]) -> dict[int, int]:
    """Offset on the events topic -> event index, for champion decisions only."""
    ids, offset = {}, 0
    for topic, value in stream:
        if topic != EVENTS:
            continue
        body = msgspec.json.decode(value)
        if body["model"] == MODEL:
            ids[offset] = int(body["id"][1:])
        offset += 1
    return ids


def test_equal_models_no_alert() -> None:
    runner = run(build(seed=22, improve_at=None), labels=True, margin=0.05)
    assert runner.kind("challenger") == []
    pair = {"model": MODEL, "challenger": CHALLENGER}
    for role in ("champion", "challenger"):
        rate = runner.metric("driftd_challenger_error_rate", {**pair, "role": role})
        assert rate is not None and 0.15 < rate < 0.25


def test_agreement_and_score_difference_without_labels() -> None:
    data = build(seed=23, improve_at=None, missing=0.02)
    runner = run(data, labels=False, ttl_seconds=30.0)
    assert runner.kind("challenger") == []
    pair = {"model": MODEL, "challenger": CHALLENGER}
    present = np.flatnonzero(data["present"])
    matched = runner.metric("driftd_challenger_matched_total", pair)
    assert matched == len(present)
    # Champion decisions whose challenger never came wait ttl_seconds (3 000 decisions of
    # event time), then count as unmatched; the last ones are still waiting.
    missing = np.flatnonzero(~data["present"])
    unmatched = runner.metric("driftd_challenger_unmatched_total", {**pair, "side": "champion"})
    assert unmatched == int((missing < N - 1 - 3000).sum()) > 0
    assert runner.metric("driftd_challenger_unmatched_total", {**pair, "side": "challenger"}) in (
        None,
        0.0,
    )
    # The last complete window of matched pairs, in match order (= event order here).
    windows = len(present) // WINDOW
    last = present[(windows - 1) * WINDOW : windows * WINDOW]
    agreement = float(np.mean(data["champion"][last] == data["challenger"][last]))
    assert runner.metric("driftd_challenger_agreement_rate", pair) == pytest.approx(agreement)
    diffs = data["scores"][1, last] - data["scores"][0, last]
    expected = {"mean": diffs.mean(), **dict(zip(("p05", "p50", "p95"), np.quantile(
        diffs, [0.05, 0.5, 0.95]), strict=True))}  # fmt: skip
    for statistic, value in expected.items():
        reported = runner.metric(
            "driftd_challenger_score_difference", {**pair, "statistic": statistic}
        )
        assert reported == pytest.approx(value)
