"""A missing compression codec stops the start with a clear message, never a traceback.

The daemon case runs driftd in a subprocess whose import system refuses the codec's module
(as on an installation without the package), so kafka-python finds it missing the way it
would in production; the in-process cases set what kafka-python's codec module then holds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kafka.codec
import pytest

from monitor import cli

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
        timeout=180,
        cwd=ROOT,
        check=False,
    )


def test_check_config_reports_the_codecs_and_their_packages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What kafka-python's codec module holds when `import snappy` and `import zstandard`
    # failed (the import-blocked subprocess below shows it finds them missing that way).
    monkeypatch.setattr(kafka.codec, "snappy", None)
    monkeypatch.setattr(kafka.codec, "zstd", None)
    assert cli.main(["check-config", str(EXAMPLE)]) == 1
    output = capsys.readouterr()
    assert output.out == ""
    assert output.err.splitlines() == [
        "2 problem(s):",
        "  compression codec snappy is not installed (package python-snappy): "
        "topics compressed with it cannot be read",
        "  compression codec zstd is not installed (package zstandard): "
        "topics compressed with it cannot be read",
    ]


def test_check_config_lists_every_codec_when_all_are_present(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["check-config", str(EXAMPLE)]) == 0
    assert "codecs gzip, snappy, lz4, zstd" in capsys.readouterr().out


def test_the_daemon_does_not_start_without_a_codec(tmp_path: Path) -> None:
    # An unreachable broker: the check must come before any connection is tried.
    config = tmp_path / "driftd.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8").replace("localhost:9092", "127.0.0.1:9"))
    result = driftd_without("lz4", "run", "-c", str(config), "--log-format", "json")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert "compression codec(s) missing: lz4 (package lz4)" in output
    assert "pip install lz4" in output


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


def test_the_notifier_does_not_start_without_a_codec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(kafka.codec, "zstd", None)
    config = tmp_path / "driftd.yaml"
    config.write_text(NOTIFY_CONFIG)
    assert cli.main(["notify", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("driftd: compression codec(s) missing: zstd (package zstandard).")
    assert "pip install zstandard" in err
