"""The demo's Kafka clients: a traffic feed that produces, an alert collector that reads.

Each runs on its own thread and owns its Kafka client (kafka-python clients are not meant
to be shared between threads); ``stop()`` then ``join()`` ends the thread and closes it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import msgspec
import numpy as np
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from monitor.config import Config
from monitor.demo.traffic import TrafficGenerator
from monitor.kafka_io import client_options
from monitor.logs import get_logger

TICK_SECONDS = 0.05
# When the feed falls this far behind its rate (a busy machine), it skips ahead instead
# of bursting, so the rate shown stays what was asked for.
MAX_BACKLOG_SECONDS = 2.0


class TrafficFeed(threading.Thread):
    """Sends split events (features, then prediction) at ``rate`` events per second, each
    label ``label_delay_seconds`` later, and a ``malformed_share`` of malformed messages.

    Everything is keyed by the model name, so a model's halves and labels land in the same
    partition number of every input topic, which the daemon's join needs.
    """

    def __init__(
        self,
        config: Config,
        generator: TrafficGenerator,
        rate: float,
        *,
        malformed_share: float = 0.005,
        label_delay_seconds: float = 3.0,
        seed: int = 0,
        compression: str | None = None,
    ) -> None:
        super().__init__(name="driftd-demo-feed", daemon=True)
        topics = config.topics
        if topics.features is None or topics.predictions is None:
            raise ValueError("the demo feed needs both a features and a predictions topic")
        self.features_topic = topics.features
        self.predictions_topic = topics.predictions
        self.labels_topic = topics.labels
        self.limits = config.limits
        self.generator = generator
        self.rate = rate
        self.malformed_share = malformed_share
        self.label_delay_seconds = label_delay_seconds
        self.rng = np.random.default_rng(seed)
        self.key = generator.model.encode()
        self.sent_events = 0
        self.sent_labels = 0
        self.sent_malformed = 0
        self.send_errors = 0
        self.error: BaseException | None = None
        self._malformed_due = 0.0
        self._labels: deque[tuple[float, list[bytes]]] = deque()
        self._stop_requested = threading.Event()
        self._log = get_logger("driftd.demo.feed")
        # Created here so a broker that cannot be reached fails the demo's start, not a thread.
        self.producer = KafkaProducer(
            **{**client_options(config.kafka), "client_id": "driftd-demo-feed"},
            acks="all",
            linger_ms=20,
            batch_size=262_144,
            # None for the embedded broker, which loses compressed batches; `driftd traffic`
            # against real Kafka may choose one.
            compression_type=compression,
            # Room for the oversized messages, which the daemon (not the client) must reject.
            max_request_size=2 * config.limits.max_message_bytes + 65_536,
        )

    def stop(self) -> None:
        self._stop_requested.set()

    @property
    def records_written(self) -> int:
        """Records the broker accepted: two halves per event, labels, malformed messages."""
        return 2 * self.sent_events + self.sent_labels + self.sent_malformed - self.send_errors

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the runner; a thread cannot raise
            self.error = exc
            self._log.error("feed_failed", error_type=type(exc).__name__, error=str(exc))
        finally:
            try:
                self.producer.flush(timeout=5)
            except KafkaError as exc:
                self._log.warning("feed_flush_failed", error=str(exc))
            self.producer.close(timeout=5)

    def _loop(self) -> None:
        started = time.monotonic()
        while not self._stop_requested.is_set():
            now = time.monotonic()
            due = int((now - started) * self.rate) - self.generator.position
            if due > self.rate * MAX_BACKLOG_SECONDS:
                started = now - self.generator.position / self.rate
                due = 0
            if due > 0:
                self._send_events(due, now)
            while self._labels and self._labels[0][0] <= now:
                for value in self._labels.popleft()[1]:
                    self._send(self.labels_topic, value)
                    self.sent_labels += 1
            self._stop_requested.wait(TICK_SECONDS)

    def _send_events(self, count: int, now: float) -> None:
        batch = self.generator.batch(count)
        features = self.generator.encode_features(batch)
        predictions = self.generator.encode_predictions(batch)
        for feature_message, prediction_message in zip(features, predictions, strict=True):
            self._send(self.features_topic, feature_message)
            self._send(self.predictions_topic, prediction_message)
        self.sent_events += count
        if self.labels_topic is not None:
            labels = self.generator.encode_labels(batch, self.label_delay_seconds)
            self._labels.append((now + self.label_delay_seconds, labels))
        self._malformed_due += count * self.malformed_share
        if self._malformed_due >= 1:
            count_bad = int(self._malformed_due)
            self._malformed_due -= count_bad
            for message in self.generator.malformed(count_bad, self.rng, self.limits):
                topic = self.features_topic if self.rng.random() < 0.5 else self.predictions_topic
                self._send(topic, message.payload)
                self.sent_malformed += 1

    def _send(self, topic: str | None, value: bytes) -> None:
        if topic is None:
            return
        try:
            future = self.producer.send(topic, key=self.key, value=value)
        except KafkaError:
            self.send_errors += 1
            return
        future.add_errback(self._on_send_error)

    def _on_send_error(self, _exc: BaseException) -> None:
        self.send_errors += 1


class AlertCollector(threading.Thread):
    """Reads the alerts topic from the beginning (no consumer group) and keeps the newest
    ``keep`` alerts, decoded from JSON, for the live view."""

    def __init__(self, config: Config, keep: int = 100) -> None:
        super().__init__(name="driftd-demo-alerts", daemon=True)
        self.config = config
        self.topic = config.topics.alerts
        self.total = 0
        self.undecodable = 0
        self._alerts: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._log = get_logger("driftd.demo.alerts")

    def stop(self) -> None:
        self._stop_requested.set()

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts read so far, newest first."""
        with self._lock:
            return list(reversed(self._alerts))

    def run(self) -> None:
        consumer = KafkaConsumer(
            **{**client_options(self.config.kafka), "client_id": "driftd-demo-alerts"},
            group_id=None,
            enable_auto_commit=False,
        )
        try:
            self._read(consumer)
        except KafkaError as exc:
            self._log.warning("alert_reader_failed", error=str(exc))
        finally:
            consumer.close()

    def _read(self, consumer: KafkaConsumer) -> None:
        partitions = consumer.partitions_for_topic(self.topic)
        while not partitions:
            if self._stop_requested.wait(0.5):
                return
            partitions = consumer.partitions_for_topic(self.topic)
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        while not self._stop_requested.is_set():
            for records in consumer.poll(timeout_ms=250).values():
                for record in records:
                    self._add(record.value)

    def _add(self, value: bytes | None) -> None:
        try:
            alert = msgspec.json.decode(value or b"")
        except msgspec.DecodeError:
            self.undecodable += 1
            return
        if not isinstance(alert, dict):
            self.undecodable += 1
            return
        with self._lock:
            self._alerts.append(alert)
            self.total += 1
