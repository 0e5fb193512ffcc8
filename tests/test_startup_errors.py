"""A bad reference profile or rule stops `driftd run` at once with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

CONFIG = {
    "kafka": {"bootstrap_servers": "127.0.0.1:1"},
    "models": {"credit-risk": {"features": {"income": {"type": "numeric"}}}},
}


def run(tmp_path: Path, config: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_profile_is_a_startup_error(tmp_path: Path) -> None:
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["models"]["credit-risk"]["reference"] = {"profile": "nowhere.json"}
    done = run(tmp_path, config)
    assert done.returncode != 0
    assert "nowhere.json" in done.stderr and "Traceback" not in done.stderr


def test_corrupt_profile_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"format": "driftd.profile", "format_version": 1')
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["models"]["credit-risk"]["reference"] = {"profile": "bad.json"}
    done = run(tmp_path, config)
    assert done.returncode != 0 and "bad.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_rule_is_a_config_error(tmp_path: Path) -> None:
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["models"]["credit-risk"]["guardrails"] = [
        {
            "name": "typo",
            "kind": "expression",
            "expression": "features.incme > 1",
            "action": "review",
        }
    ]
    done = run(tmp_path, config)
    assert done.returncode == 2 and "typo" in done.stderr and "incme" in done.stderr
