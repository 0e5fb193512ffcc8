"""The notifier: a consumer-group member on the alerts topic that delivers to sinks.

Delivery is at least once. An alert's offset is committed only after every sink it is
routed to accepted it (2xx) or it was dead-lettered with the broker's acknowledgement;
commits never pass an unfinished alert, so a crash, a kill or a rebalance re-reads it
(and what followed it). While the process runs, each sink gets each ``(dedup_key,
status)`` transition once (see ``DeliveryLedger``); across a crash, what was delivered
after the last commit is delivered again. The alerts topic stays the durable record.

Threads: the consumer thread (``run_forever``) polls, routes, pauses reading when too
many alerts are in flight, and commits; one worker per sink delivers in order; one
writer produces dead letters. The consumer thread never waits on HTTP, so it keeps
polling (and its group membership) however long a sink is down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import AsyncConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from monitor.config import Config
from monitor.errors import DriftdError
from monitor.events import Rejected
from monitor.http import HealthState
from monitor.kafka_io import COORDINATOR_TIMEOUT_MS, make_consumer, make_producer
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.notify.routing import Router, parse_alert
from monitor.notify.sinks import AlertSink, build_sinks
from monitor.notify.tracking import OffsetTracker
from monitor.notify.workers import DeadLetterWriter, DeliveryJob, SinkWorker
from monitor.outputs import dead_letter
from monitor.rebalance import in_worker_thread

POLL_TIMEOUT_MS = 200
MAX_POLL_RECORDS = 500
COMMIT_INTERVAL_SECONDS = 0.5
# Sink names cannot contain '<', so this owner never collides with a sink.
INVALID_ALERT_OWNER = "<invalid-alert>"


class _Rebalance(AsyncConsumerRebalanceListener):
    """kafka-python runs rebalance listeners on its network thread, which must stay free;
    the commit of a revoke runs on a worker thread while the listener awaits it."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await in_worker_thread(
            self.notifier.release,
            revoked,
            True,
            name="driftd-notify-rebalance",
            consumer=self.notifier.consumer,
        )

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        # Another member may own these already: committing now could move it backwards.
        self.notifier.tracker.forget(set(lost))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.notifier.assigned(assigned)


class Notifier:
    """Delivers alerts from the alerts topic to the configured sinks.

    In the daemon: ``start()`` runs it on a background thread, ``stop(timeout)`` ends it.
    Standalone (``driftd notify``): ``run_forever(should_exit)`` on the calling thread.
    """

    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        health: HealthState | None = None,
        sinks: Mapping[str, AlertSink] | None = None,
    ) -> None:
        alerts = config.alerts
        delivery = alerts.delivery
        self.config = config
        self.metrics = metrics
        self.health = health
        self.topic = config.topics.alerts
        self.group = delivery.consumer_group or f"{config.kafka.consumer.group_id}-notifier"
        self.dead_letter_topic = delivery.dead_letter_topic or config.topics.dead_letter
        self.shutdown_timeout = config.shutdown_timeout_seconds
        self.sinks = dict(sinks) if sinks is not None else dict(build_sinks(alerts))
        self.router = Router(alerts.routes, delivery.dedup_cache_size)
        self.tracker = OffsetTracker()
        self.log = get_logger("driftd.notify")
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # dispatch and commits vs. a revoke's commit
        self._thread: threading.Thread | None = None
        self._consumer: Any = None
        self._producer: Any = None
        self._workers: dict[str, SinkWorker] = {}
        self._dead_letters: DeadLetterWriter | None = None
        self._assigned_once = False
        self._paused = False
        self._next_commit = 0.0

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        """Run on a background thread (as the daemon does)."""
        self._thread = threading.Thread(target=self._thread_main, name="driftd-notifier")
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Stop reading, let attempts in progress end, commit; False if not done in time."""
        self._stopping.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def consumer(self) -> Any:
        return self._consumer

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _thread_main(self) -> None:
        try:
            self.run_forever(lambda: False)
        except DriftdError as exc:
            self.error = exc
            self.log.error("notifier_failed", error=str(exc))
        except Exception as exc:
            self.error = exc
            self.log.exception("notifier_crashed", error_type=type(exc).__name__)

    def run_forever(self, should_exit: Callable[[], bool]) -> None:
        """Deliver until ``should_exit()`` (checked every poll) is true or ``stop`` is called."""

        def exiting() -> bool:
            return self._stopping.is_set() or should_exit()

        try:
            self._open(exiting)
            self.log.info(
                "notifier_started", topic=self.topic, group=self.group, sinks=sorted(self.sinks)
            )
            while not exiting():
                self._turn()
        finally:
            self._close()

    def _open(self, exiting: Callable[[], bool]) -> None:
        kafka = self.config.kafka
        delivery = self.config.alerts.delivery
        self._producer = make_producer(kafka)
        self._consumer = make_consumer(
            kafka,
            group_id=self.group,
            auto_offset_reset=delivery.auto_offset_reset,
            max_poll_records=min(MAX_POLL_RECORDS, delivery.max_in_flight),
        )
        self._dead_letters = DeadLetterWriter(
            self._producer,
            self.tracker,
            self.metrics,
            self._stopping,
            self.topic,
            kafka.producer.delivery_timeout_seconds,
        )
        self._workers = {
            name: SinkWorker(
                sink,
                delivery,
                self.tracker,
                self._dead_letters,
                self.dead_letter_topic,
                self.metrics,
                self._stopping,
            )
            for name, sink in self.sinks.items()
        }
        self._dead_letters.start()
        for worker in self._workers.values():
            worker.start()
        self._wait_for_topic(exiting)
        self._consumer.subscribe([self.topic], listener=_Rebalance(self))

    def _wait_for_topic(self, exiting: Callable[[], bool]) -> None:
        # Subscribing to a missing topic would only notice it at the next metadata refresh
        # (minutes); the daemon, which writes alerts, may create it after we start.
        logged = False
        while not exiting():
            try:
                if self._consumer.partitions_for_topic(self.topic):
                    return
            except KafkaError as exc:
                self.log.warning("metadata_failed", error=str(exc))
            if not logged:
                self.log.info("waiting_for_alerts_topic", topic=self.topic)
                self._set_health(False, [f"waiting for topic {self.topic}"])
                logged = True
            time.sleep(1.0)

    def _close(self) -> None:
        self._stopping.set()
        deadline = time.monotonic() + self.shutdown_timeout
        for worker in self._workers.values():
            worker.join(max(0.0, deadline - time.monotonic()))
        if self._dead_letters is not None:
            self._dead_letters.join(max(0.0, deadline - time.monotonic()))
        try:
            if self._consumer is not None:
                self._commit(force=True)
                self._consumer.close(autocommit=False)
            if self._producer is not None:
                self._producer.close(timeout=max(1.0, deadline - time.monotonic()))
        except KafkaError as exc:
            self.log.error("notifier_shutdown_error", error=str(exc))
        for sink in self.sinks.values():
            sink.close()
        self._set_health(False, ["stopped"])
        self.log.info("notifier_stopped", pending=self.tracker.pending)

    # -- the consumer loop ------------------------------------------------------------
    def _turn(self) -> None:
        if self.health is not None:
            self.health.beat()
        self._apply_backpressure()
        try:
            batch = self._consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        except KafkaError as exc:
            self.log.warning("poll_failed", error=str(exc))
            time.sleep(0.5)
            return
        if batch:
            with self._lock:
                assignment = self._consumer.assignment()
                for tp, records in batch.items():
                    if tp in assignment:  # fetched before a revoke: the new owner reads it
                        for record in records:
                            self._dispatch(tp, record)
        self._commit()
        self.metrics.alert_delivery_pending.set(self.tracker.pending)
        if self._assigned_once:
            self._set_health(True, [])

    def _dispatch(self, tp: TopicPartition, record: Any) -> None:
        alert, problem = parse_alert(record.value)
        if alert is None:
            assert self._dead_letters is not None
            self.log.warning(
                "invalid_alert", partition=record.partition, offset=record.offset, detail=problem
            )
            pending = self.tracker.track(tp, record.offset, [INVALID_ALERT_OWNER])
            letter = dead_letter(Rejected("invalid_alert", problem, record), self.dead_letter_topic)
            self._dead_letters.submit(letter, "invalid_alert", pending, INVALID_ALERT_OWNER)
            return
        sinks = self.router.sinks_for(alert)
        pending = self.tracker.track(tp, record.offset, sinks)
        read_at = time.monotonic()
        for name in sinks:
            self._workers[name].submit(DeliveryJob(alert, record, pending, read_at))

    def _apply_backpressure(self) -> None:
        """Beyond ``max_in_flight`` unfinished alerts, stop fetching (but keep polling, which
        keeps the group membership) until the sinks catch up."""
        limit = self.config.alerts.delivery.max_in_flight
        over = self.tracker.pending >= limit
        if over:
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.pause(*assignment)
            if not self._paused:
                self.log.warning("reading_paused", pending=self.tracker.pending, limit=limit)
            self._paused = True
        elif self._paused:
            paused = self._consumer.paused()
            if paused:
                self._consumer.resume(*paused)
            self._paused = False
            self.log.info("reading_resumed", pending=self.tracker.pending)

    def _commit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_commit:
            return
        self._next_commit = now + COMMIT_INTERVAL_SECONDS
        with self._lock:
            self._commit_offsets(self.tracker.committable())

    def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()},
                timeout_ms=COORDINATOR_TIMEOUT_MS,
            )
        except KafkaError as exc:
            # Not fatal: the next commit carries these offsets; a crash re-reads them.
            self.log.warning("commit_failed", error=str(exc))
            return
        self.tracker.committed(offsets)

    # -- rebalancing (called from the listener) ---------------------------------------
    def release(self, partitions: set[TopicPartition], commit: bool) -> None:
        with self._lock:
            offsets = self.tracker.committable(set(partitions)) if commit else {}
            self.tracker.forget(set(partitions))
            self._commit_offsets(offsets)
        if partitions:
            self.log.info(
                "alert_partitions_revoked", partitions=sorted(p.partition for p in partitions)
            )

    def assigned(self, partitions: set[TopicPartition]) -> None:
        self._assigned_once = True
        self.log.info(
            "alert_partitions_assigned", partitions=sorted(p.partition for p in partitions)
        )

    def _set_health(self, ready: bool, reasons: list[str]) -> None:
        if self.health is not None:
            self.health.ready = ready
            self.health.reasons = reasons
