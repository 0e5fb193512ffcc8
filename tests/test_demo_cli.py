"""``driftd demo`` end to end, and the live view's rendering of metrics and alerts."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console

from monitor.demo.runner import drift_seconds
from monitor.demo.view import (
    DaemonStats,
    DaemonStatsReader,
    DemoStatus,
    FeedStats,
    alert_row,
    render,
    status_line,
)
from monitor.metrics import Metrics


def _alive(pid: int) -> bool:
    """True while ``pid`` runs and is a broker (a reused PID would be another program)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tansu" in cmdline or b"broker" in cmdline


@pytest.mark.integration
def test_demo_runs_and_leaves_nothing_behind(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "monitor", "demo"]
    command += ["--duration", "25", "--no-view", "--rate", "500"]
    started = time.monotonic()
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    took = time.monotonic() - started
    output = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]

    pid_match = re.search(r"broker pid (\d+) listening on 127\.0\.0\.1:(\d+)", output)
    assert pid_match, output[:2000]
    pid, port = int(pid_match.group(1)), pid_match.group(2)
    assert f"broker pid {pid} stopped" in output
    assert not _alive(pid)
    pattern = f"tansu.*127.0.0.1:{port}"
    leftover = subprocess.run(["pgrep", "-f", pattern], check=False, capture_output=True, text=True)
    assert leftover.stdout.strip() == ""

    finished = [line for line in output.splitlines() if line.startswith("driftd demo: finished")]
    assert len(finished) == 1, output[-2000:]
    events = int(re.search(r" events=(\d+)", finished[0]).group(1))  # type: ignore[union-attr]
    dead = int(re.search(r" dead_letters=(\d+)", finished[0]).group(1))  # type: ignore[union-attr]
    assert events > 0
    assert dead > 0
    # Live traffic within 30 s of the start: events show in the first status lines.
    seen = [
        float(m.group(1))
        for m in re.finditer(r"^\[\s*([\d.]+)s\] sent=\d+ events=[1-9]", output, re.M)
    ]
    assert seen and seen[0] < 30
    assert took < 25 + 30  # start and orderly stop stay short


def _status(alerts: list[dict[str, object]]) -> DemoStatus:
    daemon = DaemonStats(
        events=1234, events_per_second=456.0, dead_letters={"schema": 3, "empty": 1}, ready=True
    )
    return DemoStatus(
        elapsed=12.0,
        daemon=daemon,
        feed=FeedStats(500.0, 1300, 900, 7, 0),
        drift="pending, from event 5000 (~10 s)",
        drift_detail="debt_to_income +1.5 sd",
        alerts=alerts,
        alerts_total=len(alerts),
        where="metrics http://127.0.0.1:1/metrics",
    )


def _text(status: DemoStatus) -> str:
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render(status))
    return console.export_text()


def test_view_without_alerts_says_so() -> None:
    text = _text(_status([]))
    assert "Drift & alerts" in text
    assert "no alerts" in text
    assert "1,234" in text and "schema" in text


def test_view_shows_alert_rows_from_the_alerts_topic() -> None:
    alerts: list[dict[str, object]] = [
        {
            "status": "firing",
            "window": {"end_time": 1_764_300_000.0},
            "model": "credit-risk",
            "severity": "critical",
            "kind": "data_drift",
            "test": "psi",
            "statistic": 0.41,
            "feature": "debt_to_income",
        },
        {"model": "credit-risk", "kind": "dataset_drift", "status": "resolved", "statistic": 0.6},
    ]
    text = _text(_status(alerts))
    assert "no alerts" not in text
    assert "2 alert(s)" in text
    assert "Data drift on credit-risk/debt_to_income (psi=0.41)" in text
    assert (
        alert_row(alerts[1])[-1]
        == "Resolved: Dataset drift on credit-risk: 60% of features drifted"
    )


def test_status_line_has_parseable_counts() -> None:
    line = status_line(_status([]))
    assert " events=1234 " in line
    assert " dead_letters=4 (schema:3,empty:1) " in line
    assert "ready=yes" in line


def test_stats_reader_sums_labels_and_computes_the_event_rate() -> None:
    now = [100.0]
    metrics = Metrics(CollectorRegistry())
    reader = DaemonStatsReader(metrics.registry, window_seconds=2.0, clock=lambda: now[0])
    assert reader.read().events == 0
    metrics.events.labels("credit-risk", "complete").inc(300)
    metrics.events.labels("credit-risk", "incomplete").inc(100)
    metrics.dead_letters.labels("features", "schema").inc(2)
    metrics.dead_letters.labels("predictions", "schema").inc(1)
    metrics.lag.labels("features", "0").set(5)
    metrics.lag.labels("features", "1").set(7)
    now[0] = 101.0
    stats = reader.read()
    assert stats.events == 400
    assert stats.events_per_second == pytest.approx(400.0)
    assert stats.dead_letters == {"schema": 3}
    assert stats.lag == 12


def test_drift_starts_early_and_ends_so_alerts_can_resolve() -> None:
    assert drift_seconds(25) == pytest.approx((6.25, 16.25))
    assert drift_seconds(600) == (15, 45)
    assert drift_seconds(None) == (15, 45)
