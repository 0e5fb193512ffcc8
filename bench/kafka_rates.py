"""End-to-end rates on the embedded broker: the bare kafka-python client vs driftd.

One topic, the same events, the same consumer fetch settings (``consumer_options`` of the
driftd config). The baseline is the fastest way to do the same work in one Python process:
kafka-python's consumer and msgspec decoding each record into a typed struct. driftd runs
its real daemon (consume → Pipeline → outputs → checkpoints) in this process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from prometheus_client import CollectorRegistry

from bench import data, floor
from bench.consume import Rate, consume_rate
from monitor.config import Config
from monitor.config_loader import load_config
from monitor.daemon import Daemon


class _Features(msgspec.Struct, gc=False):
    f00: float
    f01: float
    f02: float
    f03: float
    f04: float
    f05: float
    f06: float
    f07: float
    f08: float
    f09: float
    f10: float
    f11: float
    f12: float
    f13: float
    f14: float
    f15: float
    f16: float
    f17: float
    f18: float
    f19: float
    region: str
    channel: str
    segment: str


class _Prediction(msgspec.Struct, gc=False):
    score: float
    label: int


class _Event(msgspec.Struct, gc=False):
    id: str
    model: str
    version: str
    ts: float
    features: _Features
    prediction: _Prediction


class _Label(msgspec.Struct, gc=False):
    id: str
    model: str
    ts: float
    label: int


@dataclass
class Topics:
    names: dict[str, str]

    @classmethod
    def fresh(cls, bootstrap: str, tag: str) -> Topics:
        names = {
            key: f"bench-{tag}-{key}"
            for key in ("features", "predictions", "labels", "alerts", "review", "dead_letter")
        }
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            admin.create_topics([NewTopic(name, 1, 1) for name in names.values()])
        finally:
            admin.close()
        return cls(names)


def produce(bootstrap: str, topic: str, values: list[bytes]) -> float:
    """Uncompressed (the embedded broker loses compressed batches); returns events/s."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=1 << 20
    )
    started = time.perf_counter()
    try:
        for value in values:
            producer.send(topic, value=value)
        producer.flush(300)
    finally:
        producer.close()
    return len(values) / (time.perf_counter() - started)


def bare_rate(config: Config, topics: Topics, expected: int) -> Rate:
    """Consume + decode every record of the features and labels topics."""
    event_decoder = msgspec.json.Decoder(_Event)
    label_decoder = msgspec.json.Decoder(_Label)
    labels_topic = topics.names["labels"]

    def decode_all(topic: str, records: list[Any]) -> None:
        decode = label_decoder.decode if topic == labels_topic else event_decoder.decode
        for record in records:
            decode(record.value)

    inputs = (topics.names["features"], labels_topic)
    return consume_rate(config, inputs, expected, "bare", decode_all)


class DaemonRun:
    """driftd's daemon in this process, timed from its first fetched batch."""

    def __init__(self, config: Config) -> None:
        self.daemon = Daemon(config, CollectorRegistry())
        self.first: float | None = None
        self.last = 0.0
        self.first_cpu = self.last_cpu = 0.0
        self.processed = 0
        self.batch_done: list[tuple[float, int]] = []
        self._thread = threading.Thread(target=self._run, name="bench-daemon", daemon=True)

    def start(self) -> None:
        self.daemon.startup()
        process = self.daemon.pipeline.process

        def timed(records: Any) -> Any:
            if self.first is None:
                self.first, self.first_cpu = time.perf_counter(), time.process_time()
            outputs = process(records)
            self.processed += len(records)
            self.last, self.last_cpu = time.perf_counter(), time.process_time()
            return outputs

        self.daemon.pipeline.process = timed  # type: ignore[method-assign]
        self._thread.start()

    def _run(self) -> None:
        self.daemon.main_loop()

    def wait_for(self, count: int, timeout_s: float = 900) -> None:
        deadline = time.monotonic() + timeout_s
        while self.processed < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"driftd processed {self.processed} of {count}")
            time.sleep(0.02)

    def rate(self) -> Rate:
        assert self.first is not None
        wall, cpu = self.last - self.first, self.last_cpu - self.first_cpu
        return Rate.measured(self.processed, wall, cpu)

    def stop(self) -> None:
        self.daemon.should_exit = True
        self._thread.join(60)
        self.daemon.shutdown()


def alert_latencies(
    bootstrap: str, run: DaemonRun, topics: Topics, start: int, windows: int
) -> list[float]:
    """Seconds from producing a window's last event to its first alert on the alerts topic.

    Windows alternate drifted / clean, so each window fires or resolves alerts. The window's
    first 4 999 events are produced and consumed first; after a pause the closing event is
    sent at a known time, and a separate consumer watches the alerts topic.
    """
    size = 5000
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    # The watcher must not add a long broker-side fetch wait of its own to the figure.
    watcher = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    tp = TopicPartition(topics.names["alerts"], 0)
    watcher.assign([tp])
    watcher.seek_to_end(tp)
    watcher.position(tp)
    latencies = []
    number = start
    try:
        for k in range(windows):
            drift = k % 2 == 1  # the stream before ends drifted: resolve, then fire
            values = data.events(size, number, drift_from=number if drift else None, seed=k)
            before = run.processed
            for value in values[:-1]:
                producer.send(topics.names["features"], value=value)
            producer.flush(60)
            run.wait_for(before + size - 1)
            watcher.poll(timeout_ms=100)  # drain older alerts
            time.sleep(0.5)
            sent = time.perf_counter()
            producer.send(topics.names["features"], value=values[-1]).get(10)
            latency = _first_window_alert(watcher, sent, deadline_s=10)
            if latency is not None:
                latencies.append(latency)
            number += size
    finally:
        producer.close()
        watcher.close()
    return latencies


def _first_window_alert(watcher: KafkaConsumer, sent: float, deadline_s: float) -> float | None:
    end = sent + deadline_s
    while time.perf_counter() < end:
        for records in watcher.poll(timeout_ms=20).values():
            for record in records:
                body = msgspec.json.decode(record.value)
                if body.get("kind") in ("data_drift", "dataset_drift"):
                    return time.perf_counter() - sent
    return None


RATES = ("bare", "driftd", "floor", "arrow_floor", "arrow_floor_overlapped")


def run(
    bootstrap: str, events: int, latency_windows: int, workdir: Path, rounds: int = 3
) -> dict[str, Any]:
    """``rounds`` rounds of every consumer over the same records, one after the other in
    each round (this machine's speed drifts over minutes: each round's ratios compare
    neighbours), then the alert latencies with the last round's daemon."""
    topics = Topics.fresh(bootstrap, str(time.time_ns()))
    values = data.events(events, drift_from=events // 2)
    label_values = data.labels(range(0, events, 10))
    produced = produce(bootstrap, topics.names["features"], values)
    produce(bootstrap, topics.names["labels"], label_values)
    total = len(values) + len(label_values)
    inputs = (topics.names["features"], topics.names["labels"])
    measured: dict[str, list[Rate]] = {name: [] for name in RATES}
    latencies: list[float] = []
    for number in range(rounds):
        group = f"driftd-bench-{time.time_ns()}"
        raw = data.config(bootstrap, topics.names, group, 0)
        config = load_config(data.write_config(workdir / f"bench-{number}.yaml", raw))
        measured["bare"].append(bare_rate(config, topics, total))
        measured["floor"].append(floor.floor_rate(config, *inputs, total))
        arrow = floor.floor_rate(config, *inputs, total, kind=floor.ArrowFloor)
        measured["arrow_floor"].append(arrow)
        overlapped = floor.floor_rate(
            config, *inputs, total, kind=floor.ArrowFloor, overlapped=True
        )
        measured["arrow_floor_overlapped"].append(overlapped)
        daemon = DaemonRun(config)
        daemon.start()
        try:
            daemon.wait_for(total)
            measured["driftd"].append(daemon.rate())
            if number == rounds - 1:
                latencies = alert_latencies(bootstrap, daemon, topics, events, latency_windows)
        finally:
            daemon.stop()
    return {
        "events": events,
        "records": total,
        "produce_rate": produced,
        "rates": measured,
        "latencies": latencies,
        "latency_windows": latency_windows,
    }
