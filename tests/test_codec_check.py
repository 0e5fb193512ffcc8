"""A missing compression codec stops the start with a clear message, never a traceback.

Each case runs driftd in a subprocess whose import system refuses the codec's module (as
on an installation without the package), so kafka-python finds it missing the way it
would in production.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.yaml"
# Refuses the named top-level modules before anything imports kafka-python.
BLOCKING_RUNNER = """
import sys
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

BLOCKED = set(sys.argv[1].split(","))
sys.meta_path.insert(0, Refuse())
from monitor.cli import main
sys.exit(main(sys.argv[2:]))
"""


def driftd_without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKING_RUNNER, modules, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_check_config_reports_the_codecs_and_their_packages() -> None:
    result = driftd_without("snappy,zstandard", "check-config", str(EXAMPLE))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "2 problem(s):",
        "  compression codec snappy is not installed (package python-snappy): "
        "topics compressed with it cannot be read",
        "  compression codec zstd is not installed (package zstandard): "
        "topics compressed with it cannot be read",
    ]


def test_check_config_lists_every_codec_when_all_are_present() -> None:
    result = driftd_without("nothing-blocked", "check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "codecs gzip, snappy, lz4, zstd" in result.stdout


NOTIFY_CONFIG = """
kafka: {bootstrap_servers: ["127.0.0.1:9"]}
server: {enabled: false}
alerts:
  sinks:
    hook:
      type: webhook
      url: "http://127.0.0.1:9/"
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIs3jh9SaFPc=
  routes: [{sinks: [hook]}]
models: {m: {features: {x: {type: numeric}}}}
"""


@pytest.mark.parametrize("command", ["run", "notify"])
def test_the_daemon_does_not_start_without_a_codec(command: str, tmp_path: Path) -> None:
    # An unreachable broker: the check must come before any connection is tried.
    config = tmp_path / "driftd.yaml"
    if command == "run":
        config.write_text(
            EXAMPLE.read_text(encoding="utf-8").replace("localhost:9092", "127.0.0.1:9")
        )
    else:
        config.write_text(NOTIFY_CONFIG)
    result = driftd_without("lz4", command, "-c", str(config), "--log-format", "json")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "compression codec(s) missing: lz4 (package lz4)" in output
    assert "pip install lz4" in output
