"""Fairness windows reach ``driftd replay``'s windows.jsonl and ``driftd report``'s page."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli import main
from monitor.replay import read_jsonl
from tests.fairness.streams import EVENTS, MODEL, approvals, event_json, model_config

WINDOW = 500
N = 8 * WINDOW


def test_replay_records_every_fairness_window_and_the_report_shows_them(tmp_path: Path) -> None:
    stream = approvals(
        N, {"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}, seed=51, change_at=N // 2,
        rates_after={"b": 0.25},
    )  # fmt: skip
    recorded = tmp_path / "recorded.jsonl"
    with recorded.open("w") as out:
        for i in range(N):
            envelope = {"topic": EVENTS, "partition": 0, "offset": i}
            out.write(json.dumps({**envelope, "value": event_json(i, stream).decode()}) + "\n")
    config = tmp_path / "driftd.yaml"
    fairness = {"attributes": {"gender": "attribute"}, "window": WINDOW}
    models = {MODEL: model_config(fairness=fairness)}
    config.write_text(
        json.dumps(
            {
                "topics": {"features": EVENTS, "predictions": None},
                "models": models,
                "audit": {"enabled": True},
            }
        )
    )
    out_dir = tmp_path / "out"
    args = ["replay", "-c", str(config), "--input", str(recorded), "--out", str(out_dir)]
    assert main(args) == 0
    records = [w for w in read_jsonl(out_dir / "windows.jsonl") if w["kind"] == "fairness"]
    assert [r["window_index"] for r in records] == list(range(N // WINDOW))
    assert all(r["metric"] == "disparate_impact" and r["bound"] == 0.8 for r in records)
    violated = [r["window_index"] for r in records if r["violated"]]
    assert violated == list(range(N // WINDOW // 2, N // WINDOW))
    alerts = [a for a in read_jsonl(out_dir / "alerts.jsonl") if a["kind"] == "fairness"]
    assert [a["window"]["index"] for a in alerts] == [N // WINDOW // 2 + 1]
    # The audit record of the alert names the fairness settings that produced it.
    (audited,) = [
        r
        for r in read_jsonl(out_dir / "audit.jsonl")
        if (r.get("subject") or {}).get("kind") == "fairness"
    ]
    assert audited["rule"]["detector"] == "disparate_impact"
    assert audited["rule"]["threshold"] == 0.8
    assert audited["rule"]["params"]["min_group_size"] == 30
    assert audited["window"]["start_offset"] == alerts[0]["window"]["start"]["offset"]
    assert main(["report", str(out_dir)]) == 0
    page = (out_dir / "report.html").read_text()
    section = page[page.index("<h2>Fairness</h2>") :]
    assert "no fairness metrics configured" not in section
    assert "disparate_impact" in section and "lowest_group" in section
