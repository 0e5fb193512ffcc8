"""``driftd traffic``: the demo's synthetic traffic, sent to the Kafka of a config.

The demo's traffic without the demo's embedded broker and daemon: split events, late
labels and a few malformed messages for the ``credit-risk`` model (the demo's features),
written to the input topics of a driftd config, with a drift that starts and ends. For a
real cluster (``deploy/docker-compose.yml`` runs it beside driftd); the topics must exist.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from kafka.errors import KafkaError

from monitor.config import Config
from monitor.demo.feed import TrafficFeed
from monitor.demo.traffic import DEMO_FEATURES, TrafficGenerator, demo_drifts
from monitor.errors import DriftdError
from monitor.logs import get_logger

MODEL = "credit-risk"
STATUS_EVERY_SECONDS = 10.0


def run_traffic(
    config: Config,
    *,
    rate: float,
    duration: float | None,
    drift_after: float,
    drift_for: float,
    compression: str | None,
    out: Callable[[str], None] = print,
) -> int:
    """Send until ``duration`` has passed or SIGTERM/SIGINT; 0 after a clean stop."""
    if MODEL not in config.models:
        raise DriftdError(f"the traffic is for model {MODEL!r}, which the config does not declare")
    if config.topics.features is None or config.topics.predictions is None:
        raise DriftdError("the traffic needs topics.features and topics.predictions")
    generator = TrafficGenerator(
        DEMO_FEATURES,
        seed=7,
        model=MODEL,
        drifts=demo_drifts(int(drift_after * rate), int((drift_after + drift_for) * rate)),
        start_ts=time.time(),
        events_per_second=rate,
    )
    try:
        feed = TrafficFeed(config, generator, rate, compression=compression)
    except KafkaError as exc:
        raise DriftdError(f"cannot connect to {config.kafka.bootstrap_servers}: {exc}") from exc
    stop = threading.Event()
    restore = _stop_on_signals(stop)
    log = get_logger("driftd.traffic")
    log.info(
        "traffic_started",
        rate=rate,
        topics=[config.topics.features, config.topics.predictions, config.topics.labels],
        compression=compression or "none",
        drift_from_seconds=drift_after,
        drift_until_seconds=drift_after + drift_for,
    )
    started = time.monotonic()
    feed.start()
    try:
        while not stop.wait(min(STATUS_EVERY_SECONDS, _left(started, duration))):
            if duration is not None and time.monotonic() - started >= duration:
                break
            if not feed.is_alive():
                break
            out(_status(feed, time.monotonic() - started))
    finally:
        feed.stop()
        feed.join(15)
        restore()
    out(f"driftd traffic: finished, {_status(feed, time.monotonic() - started)}")
    if feed.error is not None or feed.is_alive():
        return 1
    return 0


def _left(started: float, duration: float | None) -> float:
    if duration is None:
        return STATUS_EVERY_SECONDS
    return max(0.0, duration - (time.monotonic() - started))


def _status(feed: TrafficFeed, elapsed: float) -> str:
    return (
        f"{elapsed:.0f} s: {feed.sent_events} events, {feed.sent_labels} labels, "
        f"{feed.sent_malformed} malformed, {feed.send_errors} send errors"
    )


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
