"""``driftd demo``: the embedded broker, the daemon, synthetic traffic and a live view.

Everything runs in this process except the broker (a child process): the daemon on a
background thread (it installs signal handlers only on the main thread, so the demo stops
it through ``should_exit``), the traffic feed and the alert reader on their own threads,
and the view on the main thread. However the demo ends (duration, Ctrl-C, SIGTERM, an
error), it stops the feed, then the daemon (which checkpoints and commits), then the
alert reader and finally the broker, and joins every thread it started.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from rich.console import Console
from rich.live import Live

from monitor import logs
from monitor.broker import EmbeddedBroker
from monitor.config import Config
from monitor.daemon import Daemon
from monitor.demo.feed import AlertCollector, TrafficFeed
from monitor.demo.receiver import WebhookReceiver
from monitor.demo.reference import build_demo_profile
from monitor.demo.traffic import DEMO_FEATURES, TrafficGenerator, demo_drifts
from monitor.demo.view import (
    DaemonStats,
    DaemonStatsReader,
    DemoStatus,
    FeedStats,
    render,
    status_line,
)
from monitor.errors import DriftdError
from monitor.kafka_io import ensure_topics

INPUT_PARTITIONS = 2
# The drift starts after a quarter of a demo with a duration (15 s at the latest) and
# lasts 40 % of it (30 s at most), so both the alerts firing and resolving are shown.
DRIFT_START_FRACTION = 0.25
DRIFT_START_MAX_SECONDS = 15.0
DRIFT_LENGTH_FRACTION = 0.4
DRIFT_LENGTH_MAX_SECONDS = 30.0
VIEW_REFRESH_PER_SECOND = 4
STOP_JOIN_SECONDS = 5.0
DRAIN_SECONDS = 3.0
DRIFT_SUMMARY = (
    "debt_to_income +1.5 sd, new channel 'partner' at 20 %, model error rate 10 % -> 35 %"
)


def demo_config(
    bootstrap: str, profile: Path | None = None, webhook: tuple[str, str] | None = None
) -> Config:
    """The packaged ``demo.yaml`` with the embedded broker's address, and optionally a
    profile and a webhook sink ``(url, whsec_ secret)`` every alert is routed to."""
    text = resources.files("monitor.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    data["kafka"]["bootstrap_servers"] = [bootstrap]
    if profile is not None:
        data["models"]["credit-risk"]["reference"] = {"profile": str(profile)}
    if webhook is not None:
        url, secret = webhook
        data["alerts"] = {
            "sinks": {"incidents": {"type": "webhook", "url": url, "secret": secret}},
            "routes": [{"sinks": ["incidents"]}],
            "delivery": {"backoff_max_seconds": 5},
        }
    return Config.model_validate(data)


def drift_seconds(duration: float | None) -> tuple[float, float]:
    """When the injected drift starts and ends, in seconds after the demo's start."""
    if duration is None:
        return DRIFT_START_MAX_SECONDS, DRIFT_START_MAX_SECONDS + DRIFT_LENGTH_MAX_SECONDS
    start = min(DRIFT_START_FRACTION * duration, DRIFT_START_MAX_SECONDS)
    return start, start + min(DRIFT_LENGTH_FRACTION * duration, DRIFT_LENGTH_MAX_SECONDS)


@dataclass(slots=True)
class _DaemonThread:
    daemon: Daemon
    thread: threading.Thread
    exit_code: int | None = None


def _start_daemon(config: Config) -> _DaemonThread:
    daemon = Daemon(config)
    holder = _DaemonThread(daemon, threading.Thread())

    def run() -> None:
        try:
            holder.exit_code = daemon.run()
        except Exception as exc:  # a thread cannot raise to the runner: record and log it
            holder.exit_code = 1
            logs.get_logger("driftd.demo").exception("daemon_crashed", error=str(exc))

    holder.thread = threading.Thread(target=run, name="driftd-demo-daemon", daemon=True)
    holder.thread.start()
    return holder


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C, so ``kill`` also stops the broker child."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(duration: float | None, view: bool, rate: float) -> int:
    if rate <= 0 or (duration is not None and duration <= 0):
        print("driftd demo: --rate and --duration must be positive", file=sys.stderr)
        return 2
    console = Console(highlight=False)

    def out(message: str) -> None:
        _say(view, console, message)

    with _sigterm_as_interrupt():
        broker = EmbeddedBroker()
        try:
            out("driftd demo: starting the embedded broker ...")
            broker.start()
            assert broker.process is not None
            out(f"driftd demo: broker pid {broker.process.pid} listening on {broker.bootstrap}")
            return _run_with_broker(broker, duration, view, rate, console)
        except KeyboardInterrupt:
            return 0
        except DriftdError as exc:
            print(f"driftd demo: {exc}", file=sys.stderr)
            return 1
        finally:
            pid = broker.process.pid if broker.process is not None else None
            broker.stop()
            if pid is not None:
                out(f"driftd demo: broker pid {pid} stopped")


def _run_with_broker(
    broker: EmbeddedBroker, duration: float | None, view: bool, rate: float, console: Console
) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="driftd-demo-"))
    key = secrets.token_bytes(24)
    receiver = WebhookReceiver(key).start()
    try:
        profile = build_demo_profile(workdir / "credit-risk.profile.json")
        secret = "whsec_" + base64.b64encode(key).decode()
        config = demo_config(broker.bootstrap, profile, (receiver.url, secret))
        return _run_configured(config, duration, view, rate, console, receiver)
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_configured(
    config: Config,
    duration: float | None,
    view: bool,
    rate: float,
    console: Console,
    receiver: WebhookReceiver | None = None,
) -> int:
    if view:
        _configure_view_logging()
    else:
        # JSON log lines (stderr) beside the status lines (stdout), as in CI logs.
        logs.configure(config.logging.level, config.logging.format)
    topics = config.topics
    inputs = dict.fromkeys(topics.inputs, INPUT_PARTITIONS)
    outputs = dict.fromkeys((topics.review, topics.alerts, topics.dead_letter), 1)
    ensure_topics(config, {**inputs, **outputs})

    drift_after, drift_until = drift_seconds(duration)
    drift_start = int(drift_after * rate)
    generator = TrafficGenerator(
        DEMO_FEATURES,
        seed=7,
        drifts=demo_drifts(drift_start, int(drift_until * rate)),
        start_ts=time.time(),
        events_per_second=rate,
    )
    runner = _Demo(config, generator, rate, drift_start, drift_after)
    runner.receiver = receiver
    try:
        runner.start()
        runner.show(duration, view, console)
    except KeyboardInterrupt:
        pass
    finally:
        _say(view, console, "driftd demo: stopping the feed, then the daemon ...")
        code = runner.stop()
    if not view:
        _print_plain(f"driftd demo: finished {status_line(runner.status())}")
    return code


class _Demo:
    """The threads of one demo run and the status they add up to."""

    def __init__(
        self,
        config: Config,
        generator: TrafficGenerator,
        rate: float,
        drift_start: int,
        drift_after: float,
    ) -> None:
        self.config = config
        self.generator = generator
        self.rate = rate
        self.drift_start = drift_start
        self.drift_after = drift_after
        self.started = time.monotonic()
        self.daemon: _DaemonThread | None = None
        self.feed: TrafficFeed | None = None
        self.alerts = AlertCollector(config)
        self.reader: DaemonStatsReader | None = None
        self.receiver: WebhookReceiver | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        self.daemon = _start_daemon(self.config)
        self.reader = DaemonStatsReader(self.daemon.daemon.metrics.registry)
        self.alerts.start()
        self.feed = TrafficFeed(self.config, self.generator, self.rate)
        self.feed.start()

    def show(self, duration: float | None, view: bool, console: Console) -> None:
        deadline = None if duration is None else self.started + duration
        if view:
            self._show_live(deadline, console)
            return
        next_line = time.monotonic() + 1.0
        while self._running(deadline):
            time.sleep(max(0.0, min(next_line, deadline or next_line) - time.monotonic()))
            if time.monotonic() >= next_line:
                _print_plain(status_line(self.status()))
                next_line += 1.0

    def _show_live(self, deadline: float | None, console: Console) -> None:
        interval = 1.0 / VIEW_REFRESH_PER_SECOND
        try:
            with Live(render(self.status()), console=console, auto_refresh=False) as live:
                # Configured again here, the log writes to Live's stand-in for stderr, so a
                # warning is printed above the view instead of through it ...
                _configure_view_logging()
                while self._running(deadline):
                    time.sleep(interval)
                    live.update(render(self.status()), refresh=True)
        finally:
            # ... and once the view is gone, to the real stderr again.
            _configure_view_logging()

    def _running(self, deadline: float | None) -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        # The daemon thread ends on its own only when it failed (e.g. at startup).
        return self.daemon is not None and self.daemon.thread.is_alive()

    def status(self) -> DemoStatus:
        elapsed = time.monotonic() - self.started
        feed = self.feed
        feed_stats = FeedStats(self.rate)
        if feed is not None:
            feed_stats = FeedStats(
                self.rate, feed.sent_events, feed.sent_labels, feed.sent_malformed, feed.send_errors
            )
        daemon = self.daemon.daemon if self.daemon is not None else None
        where = ""
        if daemon is not None and daemon.server is not None:
            where = f"metrics http://{self.config.server.host}:{daemon.server.port}/metrics"
        stats = self.reader.read() if self.reader is not None else None
        return DemoStatus(
            elapsed=elapsed,
            daemon=stats if stats is not None else DaemonStats(),
            feed=feed_stats,
            drift=self._drift_text(),
            drift_detail=DRIFT_SUMMARY,
            alerts=self.alerts.alerts(),
            alerts_total=self.alerts.total,
            where=where,
            delivered=self.receiver.received if self.receiver is not None else 0,
            bad_signatures=self.receiver.bad_signatures if self.receiver is not None else 0,
        )

    def _drift_text(self) -> str:
        end = self.generator.drifts[0].end if self.generator.drifts else None
        if end is not None and self.generator.position > end:
            return f"over since event {end}: alerts resolve after 3 clean windows"
        if self.generator.position > self.drift_start:
            return f"active since event {self.drift_start}"
        return f"pending, from event {self.drift_start} (~{self.drift_after:.0f} s)"

    def stop(self) -> int:
        """Stop feed, daemon, alert reader, in that order; the daemon's exit code or 0."""
        code = 0
        if self.feed is not None:
            self.feed.stop()
            self.feed.join(STOP_JOIN_SECONDS + 5)
            self._drain(self.feed.records_written)
        if self.daemon is not None:
            self.daemon.daemon.should_exit = True
            self.daemon.thread.join(self.config.shutdown_timeout_seconds + STOP_JOIN_SECONDS)
            if self.daemon.thread.is_alive():
                print("driftd demo: the daemon did not stop in time", file=sys.stderr)
                code = 1
            elif self.daemon.exit_code:
                code = self.daemon.exit_code
        self.alerts.stop()
        if self.alerts.is_alive():
            self.alerts.join(STOP_JOIN_SECONDS)
        return code

    def _drain(self, records: int) -> None:
        """Give the daemon a moment to read what was sent, so the final counts add up."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.reader is not None and self.daemon is not None and self.daemon.thread.is_alive():
            if self.reader.read().records_consumed >= records or time.monotonic() > deadline:
                return
            time.sleep(0.1)


def _configure_view_logging() -> None:
    """Only problems are logged under the live view, so they do not push it off the screen.

    kafka-python warns whenever its network loop was held up for 100 ms, which a busy
    machine causes all the time; under the view only its errors are shown.
    """
    logs.configure("warning", "console")
    logging.getLogger("kafka").setLevel(logging.ERROR)


def _say(view: bool, console: Console, message: str) -> None:
    if view:
        console.print(message)
    else:
        _print_plain(message)


def _print_plain(message: str) -> None:
    print(message, flush=True)
