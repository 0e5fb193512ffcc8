"""``driftd notify``: the notifier alone, with its own probe server, until SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from monitor.config import Config
from monitor.errors import DriftdError
from monitor.http import HealthState, ProbeServer
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.notify.notifier import Notifier


def run_notifier(config: Config, port: int | None = None) -> int:
    """Exit code 0 after a graceful stop, 1 on failure, 2 when there is nothing to do.

    Like the daemon: a first signal finishes the attempts in progress and commits (within
    ``shutdown_timeout_seconds``), a second exits at once.
    """
    log = get_logger("driftd.notify")
    if not config.alerts.enabled:
        log.error("no_alert_sinks", hint="configure alerts.sinks and alerts.routes")
        return 2
    metrics = Metrics()
    health = HealthState()
    exit_requested = threading.Event()
    signals = 0

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        name = signal.Signals(signum).name
        if signals > 1:
            log.warning("forced_exit", signal=name)
            os._exit(1)
        log.info("shutdown_requested", signal=name)
        exit_requested.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    server = None
    if config.server.enabled:
        server = ProbeServer(
            config.server.host,
            config.server.port if port is None else port,
            metrics.registry,
            health,
        )
        server.start()
        log.info("probe_server_listening", host=config.server.host, port=server.port)
    notifier = Notifier(config, metrics, health)
    try:
        notifier.run_forever(exit_requested.is_set)
    except DriftdError as exc:
        log.error("notifier_failed", error=str(exc))
        return 1
    finally:
        if server is not None:
            server.stop()
    return 0
