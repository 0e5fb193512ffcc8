"""Fairness and champion-challenger state survives a checkpoint: a pipeline restored from
a snapshot taken mid-stream (windows half full, decisions waiting for labels and for their
counterpart, a violation run under way) writes exactly the alerts of an uninterrupted one."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np

from tests.fairness.streams import (
    CHALLENGER,
    EVENTS,
    MODEL,
    Runner,
    approvals,
    config,
    event_json,
    label_json,
    model_config,
    timeline,
)

WINDOW = 500
N = 12 * WINDOW


def scenario() -> tuple[list[tuple[str, bytes]], object]:
    champion = approvals(
        N, {"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, seed=31, change_at=N // 2,
        rates_after={"b": 0.25},
    )  # fmt: skip
    rng = np.random.default_rng(32)
    # The champion's decisions are unrelated to the truth (error ~50 %); the challenger's
    # are right 90 % of the time.
    wrong = rng.random(N) < 0.1
    challenger = dataclasses.replace(
        champion, approved=np.where(wrong, 1 - champion.truth, champion.truth)
    )
    decisions = []
    for i in range(N):
        decisions.append((EVENTS, event_json(i, champion)))
        if i >= 40:  # the challenger answers 40 decisions later
            decisions.append((EVENTS, event_json(i - 40, challenger, CHALLENGER)))
    labels = [label_json(i, champion) for i in range(N)]
    models = {
        MODEL: model_config(
            fairness={"attributes": {"gender": "attribute"}, "window": WINDOW},
            challenger={"model": CHALLENGER, "window": WINDOW, "margin": 0.1},
        ),
        CHALLENGER: model_config(),
    }
    return timeline(decisions, labels), config(models, labels=True)


def test_restore_mid_stream_gives_the_same_alerts() -> None:
    stream, cfg = scenario()
    whole = Runner(cfg)  # type: ignore[arg-type]
    whole.feed(stream, batch=1000)
    kinds = {a["kind"] for a in whole.alerts}
    assert {"fairness", "challenger"} <= kinds, whole.alerts

    cut = len(stream) // 2 + 333  # mid-window, mid-batch boundary
    first = Runner(cfg)  # type: ignore[arg-type]
    first.feed(stream[:cut], batch=1000)
    blob = first.pipeline.snapshot(0)
    state = msgspec.msgpack.decode(blob)["oversight"]
    assert state["fairness"][MODEL]["pending"], "decisions waiting for labels are state"
    assert any(state["challengers"][MODEL]["pending"]), "unmatched decisions are state"
    assert state["challengers"][MODEL]["awaiting"], "matched pairs waiting for labels"

    second = Runner(cfg)  # type: ignore[arg-type]
    second.pipeline.restore(0, blob)
    second.offsets = dict(first.offsets)
    second.feed(stream[cut:], batch=1000)
    mine = ("fairness", "challenger")
    resumed = [a for a in first.alerts + second.alerts if a["kind"] in mine]
    assert resumed == [a for a in whole.alerts if a["kind"] in mine]
    labels = {"model": MODEL, "kind": "fairness"}
    assert second.metric("driftd_alerts_firing", labels) == whole.metric(
        "driftd_alerts_firing", labels
    )
