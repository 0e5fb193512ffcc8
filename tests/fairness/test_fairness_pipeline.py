"""Fairness monitoring through the real pipeline in process, on seeded synthetic streams.

Every rate, interval and ratio an alert reports is recomputed here from the generated
arrays with scipy (``binomtest(...).proportion_ci(method="wilson")``) and plain counting.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy.stats import binomtest

from tests.fairness.streams import (
    EVENTS,
    MODEL,
    Runner,
    Stream,
    approvals,
    config,
    event_json,
    label_json,
    model_config,
    timeline,
    with_error_rates,
)

WINDOW = 1000
N = 20 * WINDOW
HALF = N // 2
FAIRNESS = {"attributes": {"gender": "attribute"}}


def run_decisions(stream: Stream, **fairness: Any) -> Runner:
    runner = Runner(config({MODEL: model_config(fairness={**FAIRNESS, **fairness})}))
    runner.feed([(EVENTS, event_json(i, stream)) for i in range(len(stream))])
    return runner


def expected_group(stream: Stream, rows: slice, group: str, successes: np.ndarray) -> dict:
    """Rate and 95 % Wilson interval of ``group`` over ``rows``, computed with scipy."""
    mask = stream.groups[rows] == group
    n = int(mask.sum())
    k = int(successes[rows][mask].sum())
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return {"events": n, "successes": k, "rate": k / n, "ci": [ci.low, ci.high]}


def test_approval_rate_drop_half_way_alerts_within_two_windows_and_not_before() -> None:
    stream = approvals(
        N, {"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, seed=1, change_at=HALF,
        rates_after={"b": 0.3},
    )  # fmt: skip
    runner = run_decisions(stream)
    alerts = runner.kind("fairness")
    assert [a["status"] for a in alerts] == ["firing"], alerts
    alert = alerts[0]
    # Window index 10 is the first after the change: fired at its close or the next one's.
    assert alert["window"]["index"] in (HALF // WINDOW, HALF // WINDOW + 1)
    assert alert["dedup_key"] == f"driftd/fairness/{MODEL}/gender/disparate_impact"
    assert alert["lowest_group"] == "b" and alert["highest_group"] == "a"
    assert alert["bound"] == 0.8 and alert["violates_when"] == "below"
    assert alert["violation_started"]["index"] == HALF // WINDOW
    # The window the alert names holds exactly the events at those offsets.
    start, end = alert["window"]["start"]["offset"], alert["window"]["end"]["offset"]
    assert end - start + 1 == WINDOW == alert["window"]["events"]
    rows = slice(start, end + 1)
    for group in ("a", "b"):
        expected = expected_group(stream, rows, group, stream.approved)
        reported = alert["rates"]["positive_rate"][group]
        assert reported["events"] == expected["events"]
        assert reported["successes"] == expected["successes"]
        assert reported["rate"] == pytest.approx(expected["rate"])
        assert reported["ci"] == pytest.approx(expected["ci"], abs=1e-9)
        assert reported["status"] == "ok"
    rates = alert["rates"]["positive_rate"]
    assert alert["statistic"] == pytest.approx(rates["b"]["rate"] / rates["a"]["rate"])
    assert alert["statistic"] < 0.8
    # Gauges hold the last window's values.
    last = slice(N - WINDOW, N)
    for group in ("a", "b"):
        gauge = runner.metric(
            "driftd_fairness_positive_rate", {"model": MODEL, "attribute": "gender", "group": group}
        )
        assert gauge == pytest.approx(expected_group(stream, last, group, stream.approved)["rate"])
    assert (
        runner.metric("driftd_fairness_windows_total", {"model": MODEL, "kind": "decisions"})
        == N // WINDOW
    )
    assert runner.metric("driftd_alerts_firing", {"model": MODEL, "kind": "fairness"}) == 1


def test_stationary_stream_no_alert() -> None:
    stream = approvals(N, {"a": 0.6, "b": 0.4}, {"a": 0.45, "b": 0.45}, seed=2)
    runner = run_decisions(stream)
    assert runner.kind("fairness") == []
    di = runner.metric("driftd_fairness_disparate_impact", {"model": MODEL, "attribute": "gender"})
    assert di is not None and 0.8 < di <= 1.0


def test_small_group_is_insufficient_data_and_never_alerts() -> None:
    # Group "c" is ~1 % of traffic (about 10 per window, below min_group_size 30) and is
    # approved far less often: compared, it would break the four-fifths rule every window.
    stream = approvals(N, {"a": 0.5, "b": 0.49, "c": 0.01}, {"a": 0.5, "b": 0.5, "c": 0.1}, seed=3)
    runner = run_decisions(stream)
    assert runner.kind("fairness") == []
    labels = {"model": MODEL, "attribute": "gender", "group": "c"}
    assert math.isnan(runner.metric("driftd_fairness_positive_rate", labels))  # type: ignore[arg-type]
    small = runner.metric("driftd_fairness_group_decisions", labels)
    assert small == int((stream.groups[N - WINDOW :] == "c").sum()) < 30


def test_alert_reports_small_groups_as_insufficient_and_resolves() -> None:
    stream = approvals(
        N, {"a": 0.5, "b": 0.49, "c": 0.01}, {"a": 0.5, "b": 0.5, "c": 0.5}, seed=4,
        change_at=6 * WINDOW, rates_after={"b": 0.25},
    )  # fmt: skip
    # The drop ends after four windows: three clean windows resolve the alert.
    stream.approved[10 * WINDOW :] = (
        np.random.default_rng(9).random(N - 10 * WINDOW) < 0.5
    ).astype(int)
    runner = run_decisions(stream)
    alerts = runner.kind("fairness")
    assert [a["status"] for a in alerts] == ["firing", "resolved"]
    assert alerts[0]["rates"]["positive_rate"]["c"]["status"] == "insufficient_data"
    assert alerts[1]["window"]["index"] == 12  # windows 10, 11, 12 are clean


def test_other_groups_are_pooled_beyond_max_groups() -> None:
    shares = dict.fromkeys("abcd", 0.25)
    stream = approvals(N // 4, shares, dict.fromkeys("abcd", 0.5), seed=6)
    runner = run_decisions(stream, max_groups=2)
    base = {"model": MODEL, "attribute": "gender"}
    known = [g for g in "abcd" if runner.metric(
        "driftd_fairness_group_decisions", {**base, "group": g}) is not None]  # fmt: skip
    assert len(known) == 2
    pooled = runner.metric("driftd_fairness_group_decisions", {**base, "group": "__other__"})
    assert pooled is not None and pooled > 300


def test_equal_opportunity_gap_alerts_after_labels() -> None:
    stream = with_error_rates(
        N, {"a": 0.5, "b": 0.5}, tpr={"a": 0.8, "b": 0.8}, fpr={"a": 0.1, "b": 0.1},
        seed=7, change_at=HALF, tpr_after={"b": 0.5},
    )  # fmt: skip
    metrics = ["equal_opportunity", "equalized_odds"]
    cfg = config({MODEL: model_config(fairness={**FAIRNESS, "metrics": metrics})}, labels=True)
    runner = Runner(cfg)
    decisions = [(EVENTS, event_json(i, stream)) for i in range(N)]
    runner.feed(timeline(decisions, [label_json(i, stream) for i in range(N)]))
    alerts = runner.kind("fairness")
    assert sorted(a["metric"] for a in alerts) == ["equal_opportunity", "equalized_odds"], alerts
    for alert in alerts:
        assert alert["status"] == "firing"
        assert alert["window"]["index"] in (HALF // WINDOW, HALF // WINDOW + 1)
        assert alert["compared_rate"] == "true_positive_rate"
        assert alert["lowest_group"] == "b" and alert["highest_group"] == "a"
        start, end = alert["window"]["start"]["offset"], alert["window"]["end"]["offset"]
        rows = slice(start, end + 1)
        # The labelled window holds the decisions with those offsets (released in order).
        assert end - start + 1 == WINDOW
        positives = stream.truth[rows] == 1
        for group in ("a", "b"):
            mask = (stream.groups[rows] == group) & positives
            n, k = int(mask.sum()), int(stream.approved[rows][mask].sum())
            reported = alert["rates"]["true_positive_rate"][group]
            assert (reported["events"], reported["successes"]) == (n, k)
            ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
            assert reported["ci"] == pytest.approx([ci.low, ci.high], abs=1e-9)
        tpr = alert["rates"]["true_positive_rate"]
        assert alert["statistic"] == pytest.approx(tpr["a"]["rate"] - tpr["b"]["rate"])
        assert alert["statistic"] > 0.1
    labels = {"model": MODEL, "attribute": "gender", "metric": "equal_opportunity"}
    gap = runner.metric("driftd_fairness_gap", labels)
    assert gap is not None and gap > 0.2
