"""``driftd notify`` as a real subprocess: kill -9 mid-delivery, restart, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
import yaml

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Config
from tests.notify.helpers import (
    WEBHOOK_SECRET,
    make_alert,
    notifier_settings,
    produce_alerts,
)
from tests.notify.receiver import Received, Receiver, Reply

pytestmark = pytest.mark.integration
URL_TOKEN = "URLTOKENSECRET"


def start_notifier(config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "notify", "-c", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_kill_9_mid_delivery_then_restart_loses_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    def slow(_index: int, _request: Received) -> Reply:
        return Reply(delay=0.15)

    receiver = Receiver(slow).start()
    hook = {
        "type": "webhook",
        "url": receiver.url(f"/hook?token={URL_TOKEN}"),
        "secret": WEBHOOK_SECRET,
    }
    settings = notifier_settings(broker.bootstrap, {"hook": hook})
    port = free_port()
    settings["server"] = {"enabled": True, "host": "127.0.0.1", "port": port}
    config_path = tmp_path / "driftd.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    config = Config.model_validate(settings)
    log_path = tmp_path / "notify.log"
    alerts = [make_alert(f"f{i}") for i in range(30)]
    produce_alerts(config, alerts)
    first = start_notifier(config_path, log_path)
    try:
        receiver.wait_for(lambda: len(receiver.requests) >= 8, 60, "deliveries under way")
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        before_restart = len(receiver.requests)
        assert before_restart < len(alerts)

        second = start_notifier(config_path, log_path)
        try:
            receiver.wait_for(lambda: ready(port), 30, "the restarted notifier ready")
            expected = {a["dedup_key"] for a in alerts}
            receiver.wait_for(
                lambda: {r.json()["dedup_key"] for r in receiver.accepted} >= expected,
                40,
                "every alert delivered",
            )
            second.send_signal(signal.SIGTERM)
            assert second.wait(20) == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        receiver.stop()
    counts = Counter(r.json()["dedup_key"] for r in receiver.accepted)
    assert set(counts) == {a["dedup_key"] for a in alerts}
    # At least once: only what was delivered after the last commit before the kill
    # (commits every 0.5 s) may come twice.
    assert sum(counts.values()) - len(counts) <= 10, counts
    log = log_path.read_text()
    assert "notifier_started" in log and "notifier_stopped" in log
    assert URL_TOKEN not in log
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in log
