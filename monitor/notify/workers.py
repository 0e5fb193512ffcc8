"""The threads that deliver: one per sink, one for the dead-letter topic.

A sink's alerts are delivered one at a time, in the order they were read, so a resolve
never overtakes its firing, and a slow or failing sink holds back only itself. A worker
finishes an alert (letting its offset be committed) only when the sink accepted it, it
was a repeat, or the dead-letter writer has it acknowledged by the broker.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from monitor import __version__
from monitor.config_alerts import DeliveryConfig
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.notify.errors import AlertDeliveryError
from monitor.notify.pacing import Backoff, TokenBucket
from monitor.notify.sinks import AlertSink
from monitor.notify.tracking import DeliveryLedger, OffsetTracker, PendingAlert
from monitor.outputs import OutputRecord, encode_json

QUEUE_POLL_SECONDS = 0.2
DEAD_LETTER_RETRY_SECONDS = 2.0


@dataclass(slots=True)
class DeliveryJob:
    alert: dict[str, Any]
    record: Any  # the kafka-python ConsumerRecord the alert came from
    pending: PendingAlert
    read_at: float  # time.monotonic() when the alert was read


def source_of(record: Any) -> dict[str, Any]:
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
    }


def delivery_dead_letter(
    topic: str,
    reason: str,
    job: DeliveryJob,
    sink: AlertSink,
    error: BaseException,
    attempts: int,
) -> OutputRecord:
    """``{reason, detail, sink, sink_type, status, response, attempts, alert, source}``."""
    status = error.status if isinstance(error, AlertDeliveryError) else None
    response = error.response_body if isinstance(error, AlertDeliveryError) else ""
    body = {
        "reason": reason,
        "detail": str(error)[:500],
        "sink": sink.name,
        "sink_type": sink.kind,
        "status": status,
        "response": response,
        "attempts": attempts,
        "alert": job.alert,
        "source": source_of(job.record),
        "driftd_version": __version__,
    }
    return OutputRecord(
        topic, encode_json(body), job.record.key, [("driftd-reason", reason.encode())]
    )


class DeadLetterWriter:
    """Writes dead letters one by one and waits for each acknowledgement; a failed write
    is retried until it succeeds or the notifier stops (the alert is then read again)."""

    def __init__(
        self,
        producer: KafkaProducer,
        tracker: OffsetTracker,
        metrics: Metrics,
        stopping: threading.Event,
        source_topic: str,
        timeout_seconds: float,
    ) -> None:
        self.producer = producer
        self.tracker = tracker
        self.metrics = metrics
        self.stopping = stopping
        self.source_topic = source_topic
        self.timeout_seconds = timeout_seconds
        self.log = get_logger("driftd.notify")
        self._queue: queue.Queue[tuple[OutputRecord, str, PendingAlert, str]] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name="driftd-notify-dead-letters", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def submit(self, record: OutputRecord, reason: str, pending: PendingAlert, owner: str) -> None:
        """Write ``record``; once acknowledged, ``owner``'s share of ``pending`` is done."""
        self._queue.put((record, reason, pending, owner))

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                record, reason, pending, owner = self._queue.get(timeout=QUEUE_POLL_SECONDS)
            except queue.Empty:
                continue
            while not self.stopping.is_set() and not pending.cancelled:
                if self._write(record):
                    self.metrics.dead_letters.labels(self.source_topic, reason).inc()
                    self.tracker.finish(pending, owner)
                    break
                self.stopping.wait(DEAD_LETTER_RETRY_SECONDS)

    def _write(self, record: OutputRecord) -> bool:
        try:
            future = self.producer.send(
                record.topic, value=record.value, key=record.key, headers=record.headers
            )
            future.get(timeout=self.timeout_seconds)
        except KafkaError as exc:
            self.log.warning("dead_letter_write_failed", topic=record.topic, error=str(exc))
            return False
        return True


class SinkWorker:
    """Delivers the alerts routed to one sink: dedup, rate limit, retries, dead letters."""

    def __init__(
        self,
        sink: AlertSink,
        delivery: DeliveryConfig,
        tracker: OffsetTracker,
        dead_letters: DeadLetterWriter,
        dead_letter_topic: str,
        metrics: Metrics,
        stopping: threading.Event,
    ) -> None:
        self.sink = sink
        self.delivery = delivery
        self.tracker = tracker
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.metrics = metrics
        self.stopping = stopping
        self.limiter = TokenBucket(sink.rate_limit_per_minute)
        self.backoff = Backoff(
            delivery.backoff_initial_seconds, delivery.backoff_max_seconds, delivery.jitter
        )
        self.ledger = DeliveryLedger(delivery.dedup_cache_size)
        self.log = get_logger("driftd.notify").bind(sink=sink.name)
        self._queue: queue.Queue[DeliveryJob] = queue.Queue()
        self._thread = threading.Thread(
            target=self._run, name=f"driftd-notify-{sink.name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def submit(self, job: DeliveryJob) -> None:
        self._queue.put(job)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self._queue.get(timeout=QUEUE_POLL_SECONDS)
            except queue.Empty:
                continue
            try:
                self._handle(job)
            except Exception as exc:  # a bug must neither kill the worker nor stall commits
                self.log.exception("delivery_internal_error", error_type=type(exc).__name__)
                self._dead_letter(job, "internal_error", exc, attempts=0)

    def _handle(self, job: DeliveryJob) -> None:
        if job.pending.cancelled:  # the partition moved to another member, which redelivers
            return
        key, status = job.alert["dedup_key"], job.alert["status"]
        partition, offset = job.record.partition, job.record.offset
        if self.ledger.is_repeat(key, status, partition, offset):
            self.metrics.alert_deliveries.labels(self.sink.name, "duplicate").inc()
            self.log.info("alert_repeat_skipped", dedup_key=key, alert_status=status)
            self.tracker.finish(job.pending, self.sink.name)
            return
        self._deliver(job)

    def _deliver(self, job: DeliveryJob) -> None:
        key, status = job.alert["dedup_key"], job.alert["status"]
        started = time.monotonic()
        attempts = 0
        while True:
            if not self.limiter.acquire(self.stopping) or job.pending.cancelled:
                return  # stopping or revoked: unfinished, so the alert is read again
            attempts += 1
            try:
                self._attempt(job.alert)
            except AlertDeliveryError as error:
                if not error.retryable:
                    self.metrics.alert_deliveries.labels(self.sink.name, "rejected").inc()
                    self.log.error(
                        "alert_rejected", dedup_key=key, http_status=error.status, error=str(error)
                    )
                    self._dead_letter(job, "delivery_rejected", error, attempts)
                    return
                delay = self._retry_delay(error, attempts, started)
                if delay is None:
                    self.metrics.alert_deliveries.labels(self.sink.name, "expired").inc()
                    self.log.error(
                        "alert_delivery_gave_up", dedup_key=key, attempts=attempts, error=str(error)
                    )
                    self._dead_letter(job, "delivery_failed", error, attempts)
                    return
                self.metrics.alert_deliveries.labels(self.sink.name, "retried").inc()
                self.log.warning(
                    "alert_delivery_retry",
                    dedup_key=key,
                    attempt=attempts,
                    retry_in_seconds=round(delay, 3),
                    http_status=error.status,
                    error=str(error),
                )
                if self.stopping.wait(delay):
                    return
                continue
            self.ledger.record(key, status, job.record.partition, job.record.offset)
            self.metrics.alert_deliveries.labels(self.sink.name, "delivered").inc()
            self.metrics.alert_delivery_seconds.labels(self.sink.name).observe(
                time.monotonic() - job.read_at
            )
            self.log.info("alert_delivered", dedup_key=key, alert_status=status, attempts=attempts)
            self.tracker.finish(job.pending, self.sink.name)
            return

    def _attempt(self, alert: dict[str, Any]) -> None:
        """One delivery attempt; the limiter paces from its end as well as its start."""
        try:
            self.sink.send(alert)
            self.sink.flush()
        finally:
            self.limiter.finished()

    def _retry_delay(
        self, error: AlertDeliveryError, attempts: int, started: float
    ) -> float | None:
        """Seconds until the next attempt, or None when the retry budget is spent."""
        max_attempts = self.delivery.max_attempts
        if max_attempts is not None and attempts >= max_attempts:
            return None
        delay = self.backoff.delay(attempts, error.retry_after)
        budget = self.delivery.max_retry_seconds
        if budget is not None:
            remaining = budget - (time.monotonic() - started)
            if remaining <= 0:
                return None
            delay = min(delay, remaining)  # one last attempt right at the deadline
        return delay

    def _dead_letter(
        self, job: DeliveryJob, reason: str, error: BaseException, attempts: int
    ) -> None:
        record = delivery_dead_letter(
            self.dead_letter_topic, reason, job, self.sink, error, attempts
        )
        self.dead_letters.submit(record, reason, job.pending, self.sink.name)
