"""Test helpers that talk to the real broker: topics, producing, reading, daemon processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from monitor.broker import free_port

FAST_GROUP = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 10000,
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, parts, 1) for name, parts in topics.items()])
    finally:
        admin.close()


def produce(bootstrap: str, messages: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
    """Send ``(topic, key, value)`` uncompressed (the embedded broker loses compressed batches)."""
    # Large batches: kafka-python's default (16 KiB, about 30 events) made producing the
    # slowest part of the tests that stream hundreds of thousands of events.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024
    )
    count = 0
    try:
        futures = []
        for topic, key, value in messages:
            futures.append(producer.send(topic, key=key, value=value))
            count += 1
        producer.flush(180)
        for future in futures:
            future.get(30)
    finally:
        producer.close()
    return count


def read_all(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record currently in ``topic`` (all partitions), without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        # kafka-python's metadata request to the embedded broker is now and then cancelled,
        # and the topic then seems to have no partitions: ask again (every topic read here
        # exists).
        parts = consumer.partitions_for_topic(topic)
        ask_until = time.monotonic() + timeout_s
        while not parts and time.monotonic() < ask_until:
            time.sleep(0.2)
            parts = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        started = time.monotonic()
        deadline = started + timeout_s
        # Past the end offsets, read until a poll is empty: the embedded broker reports a
        # partition's end at the start of its last record batch, so a topic holding one
        # batch reports 0, like an empty one. A first poll may come back empty before the
        # fetch is answered: with nothing read yet, keep polling for a second.
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} timed out")
            polled = consumer.poll(timeout_ms=300)
            for batch in polled.values():
                records.extend(batch)
            if polled or not all(consumer.position(tp) >= ends[tp] for tp in tps):
                continue
            if records or time.monotonic() - started >= 1.0:
                return records
    finally:
        consumer.close()


def decode_values(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [msgspec.json.decode(r.value) for r in records]


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return {p: consumer.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        consumer.close()


def write_config(path: Path, bootstrap: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A config for one model with a few features, merged with ``overrides``."""
    config: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "consumer": dict(FAST_GROUP)},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "logging": {"format": "json"},
        "models": {
            "credit-risk": {
                "features": {
                    "income": {"type": "numeric", "required": True},
                    "age": {"type": "numeric"},
                    "region": {"type": "categorical"},
                }
            }
        },
    }
    deep_merge(config, overrides)
    path.write_text(yaml.safe_dump(config))
    return config


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge ``extra`` into ``base`` in place, section by section."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value


class DaemonProcess:
    """``driftd run`` as a real subprocess, with its probe port and log file."""

    def __init__(
        self, config_path: Path, port: int, log_path: Path, host: str = "127.0.0.1"
    ) -> None:
        self.config_path = config_path
        self.port = port
        self.host = host  # where the probe server listens
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "monitor", "run", "-c", str(self.config_path)]

    def start(self) -> DaemonProcess:
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        log.close()
        return self

    def http(self, path: str, timeout: float = 2.0) -> tuple[int, str]:
        url = f"http://{self.host}:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        from prometheus_client.parser import text_string_to_metric_families

        status, body = self.http("/metrics")
        assert status == 200
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name and (
                    labels is None or labels.items() <= sample.labels.items()
                ):
                    return float(sample.value)
        return None

    def metric_total(self, name: str) -> float:
        """The sum of every sample of ``name`` (over all its label values)."""
        from prometheus_client.parser import text_string_to_metric_families

        status, body = self.http("/metrics")
        assert status == 200
        return sum(
            float(sample.value)
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == name
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        self.wait_for(lambda: self._probe_ok("/readyz"), timeout_s, "ready")

    def _probe_ok(self, path: str) -> bool:
        with contextlib.suppress(OSError):
            return self.http(path)[0] == 200
        return False

    def wait_for(self, condition: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited with {self.process.returncode}: {self.tail()}")
            with contextlib.suppress(OSError, AssertionError):
                if condition():
                    return
            time.sleep(0.2)
        raise AssertionError(f"daemon not {what} within {timeout_s} s: {self.tail()}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(10)

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextlib.contextmanager
def running_daemon(config_path: Path, port: int, log_path: Path) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(config_path, port, log_path).start()
    try:
        yield daemon
    finally:
        daemon.stop()
