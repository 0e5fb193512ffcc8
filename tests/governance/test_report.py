"""``driftd report`` renders a replay as one self-contained page that headless Chromium
draws: charts present after rendering, no external resources, a non-trivial screenshot."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.reference import SCORE
from tests.governance.streams import as_records, models_config

pytestmark = pytest.mark.integration
TOPIC = "driftd.features"


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    recorded = root / "recorded.jsonl"
    with recorded.open("w") as out:
        for r in as_records(TOPIC):
            envelope = {
                "topic": r.topic,
                "partition": r.partition,
                "offset": r.offset,
                "value": (r.value or b"").decode(),
            }
            out.write(json.dumps(envelope) + "\n")
    config = root / "driftd.yaml"
    config.write_text(
        json.dumps({"topics": {"features": TOPIC, "predictions": None}, "models": models_config()})
    )
    assert (
        main(["replay", "-c", str(config), "--input", str(recorded), "--out", str(root / "out")])
        == 0
    )
    return root / "out"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_renders_in_headless_chromium(replay_dir: Path, tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    assert browser is not None, "install Debian's chromium (.ci/install-tools)"
    assert main(["report", str(replay_dir)]) == 0
    page = replay_dir / "report.html"
    text = page.read_text()
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    alerts = [json.loads(x) for x in (replay_dir / "alerts.jsonl").read_text().splitlines()]
    assert alerts

    common = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    # The four features and the prediction score, for each of the two models.
    features = {"debt_to_income", "age", "income", "region", SCORE}
    assert dom.count('class="chart histogram"') == 2 * len(features)  # two models
    assert dom.count('class="chart timeline"') == 2 * len(features)
    firing = sum(1 for a in alerts if a["status"] == "firing" and a.get("window") and a["feature"])
    assert dom.count('class="alert-marker firing"') == firing > 0
    assert "no fairness metrics configured" in dom
    assert "dti-high" in dom  # guardrail hits by rule

    shot = tmp_path / "report.png"
    subprocess.run(
        [
            *common,
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            "--hide-scrollbars",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    data = shot.read_bytes()
    assert png_size(data) == (1200, 1600)
    assert len(data) > 20_000  # charts and tables, not a blank page


def test_parquet_input_replays_like_jsonl(replay_dir: Path, tmp_path: Path) -> None:
    import polars as pl

    recorded = replay_dir.parent / "recorded.jsonl"
    parquet = tmp_path / "recorded.parquet"
    pl.read_ndjson(recorded).write_parquet(parquet)
    config = str(replay_dir.parent / "driftd.yaml")
    assert (
        main(["replay", "-c", config, "--input", str(parquet), "--out", str(tmp_path / "o")]) == 0
    )
    for name in ("alerts.jsonl", "decisions.jsonl", "windows.jsonl"):
        assert (tmp_path / "o" / name).read_bytes() == (replay_dir / name).read_bytes(), name
