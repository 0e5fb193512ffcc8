"""SIGTERM ends the daemon within ``shutdown_timeout_seconds`` even when its main loop is
stuck in a call that never returns (a library waiting on a thread that sleeps): the
shutdown timeout counts from the signal, not from the moment the loop notices it."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from monitor.broker import EmbeddedBroker
from tests.kafkatools import DaemonProcess, create_topics, produce, unique, write_config
from tests.reliability.helpers import log_lines

pytestmark = [pytest.mark.integration]

SHUTDOWN_TIMEOUT_S = 3
# The daemon, with its pipeline blocked for good on the first batch it is given.
STUCK = """
import sys, threading
from monitor import pipeline
from monitor.cli import main

def stuck(self, records):
    print("pipeline_stuck", flush=True)
    threading.Event().wait()

pipeline.Pipeline.process = stuck
sys.exit(main(sys.argv[1:]))
"""


class _StuckDaemon(DaemonProcess):
    def command(self) -> list[str]:
        return [sys.executable, "-c", STUCK, "run", "-c", str(self.config_path)]


def test_sigterm_ends_a_daemon_whose_loop_is_stuck(broker: EmbeddedBroker, tmp_path: Path) -> None:
    features = unique("features")
    create_topics(broker.bootstrap, {features: 1})
    config = write_config(
        tmp_path / "driftd.yaml",
        broker.bootstrap,
        {
            "topics": {"features": features, "predictions": None},
            "kafka": {"consumer": {"group_id": unique("g")}},
            "shutdown_timeout_seconds": SHUTDOWN_TIMEOUT_S,
        },
    )
    daemon = _StuckDaemon(tmp_path / "driftd.yaml", config["server"]["port"], tmp_path / "d.log")
    daemon.start()
    try:
        daemon.wait_ready()
        event = b'{"id": "e-1", "model": "credit-risk", "features": {"income": 1.0}}'
        produce(broker.bootstrap, [(features, b"e-1", event)])
        daemon.wait_for(lambda: "pipeline_stuck" in daemon.tail(), 60, "stuck")
        daemon.signal(signal.SIGTERM)
        code = daemon.wait(SHUTDOWN_TIMEOUT_S + 20)
    finally:
        daemon.stop()
    assert code == 1  # not a clean shutdown: nothing was committed
    events = [line.get("event") for line in log_lines(tmp_path / "d.log")]
    # Ended by the shutdown watchdog: the loop never got to the shutdown itself.
    assert events.index("shutdown_requested") < events.index("shutdown_timeout")
    assert "stopped" not in events
