"""The daemon's lifecycle: startup → main loop → graceful shutdown.

Like uvicorn's server: the first SIGTERM/SIGINT asks the loop to finish its batch, flush,
checkpoint and commit, bounded by ``shutdown_timeout_seconds`` from the signal (a watchdog
exits even if the loop is stuck); a second signal forces exit at once. Offsets are
committed only after every output of the records before them and the state they produced
are acknowledged by the broker (see ``checkpointing.py``).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from kafka import AsyncConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from monitor import heap
from monitor.checkpoint import CheckpointStore, usable
from monitor.checkpointing import Checkpoints
from monitor.codecs import check_codecs
from monitor.config import Config
from monitor.daemon_governance import Governance
from monitor.errors import DeliveryError, DriftdError, KafkaIOError
from monitor.events import Rejected, SourceRecord
from monitor.http import HealthState, ProbeServer
from monitor.kafka_io import (
    COORDINATOR_TIMEOUT_MS,
    KafkaSink,
    ensure_topics,
    make_consumer,
    make_producer,
)
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.notify import Notifier
from monitor.outputs import OutputRecord, dead_letter
from monitor.pipeline import Pipeline
from monitor.rebalance import in_worker_thread
from monitor.signals import Signals
from monitor.topics import ensure_state_topic, measure_lag, wait_for_inputs

PROBE_INTERVAL_S = 2.0


THREAD = "driftd-rebalance"


class _Rebalance(AsyncConsumerRebalanceListener):
    """Checkpoints revoked tasks on a worker thread (see ``rebalance.py``)."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await in_worker_thread(
            self.daemon.release_tasks, revoked, True, name=THREAD, consumer=self.daemon.consumer
        )

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        # Another member may own these already: writing their state now would race it.
        await in_worker_thread(
            self.daemon.release_tasks, lost, False, name=THREAD, consumer=self.daemon.consumer
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.daemon.accept_tasks(assigned)


class Daemon:
    def __init__(
        self,
        config: Config,
        registry: CollectorRegistry | None = None,
        config_path: str | Path | None = None,
    ) -> None:
        self.config = config
        self.metrics = Metrics(registry)
        self.pipeline = Pipeline(config, self.metrics)
        self.health = HealthState()
        self.log = get_logger("driftd.daemon")
        self.should_exit = False
        self.inputs = config.topics.inputs
        self.server: ProbeServer | None = None
        self.consumer: Any = None
        self.producer: Any = None
        self.sink: KafkaSink | None = None
        self.store: CheckpointStore | None = None
        self.notifier: Notifier | None = None
        self.owned: set[int] = set()
        self._to_restore: set[int] = set()
        self._assigned_once = False
        self._broker_up = False
        self.checkpoints = Checkpoints(self)
        self._next_probe = 0.0
        self._signals = Signals(self.log, self._request_exit, self._request_reload)
        self._watchdog: threading.Timer | None = None
        # Processing and checkpoints hold this lock, so a rebalance (which kafka-python
        # runs while the main thread waits in poll) never sees a half-processed batch.
        self._lock = threading.RLock()
        # Audit file, configuration audit records and hot reload (SIGHUP, file watch).
        self.governance = Governance(self, config_path)

    # -- lifecycle --------------------------------------------------------------------
    def run(self) -> int:
        self._signals.install()
        try:
            self.startup()
            self.main_loop()
        except DriftdError as exc:
            self.log.error("startup_failed", error=str(exc))
            self.shutdown(checkpoint=False)
            return 1
        return self.shutdown()

    def startup(self) -> None:
        cfg = self.config
        # Before anything connects: a codec missing would otherwise fail on the first
        # compressed batch, long after the start looked fine.
        check_codecs()
        if cfg.server.enabled:
            self.server = ProbeServer(
                cfg.server.host, cfg.server.port, self.metrics.registry, self.health
            )
            self.server.start()
            self.log.info("probe_server_listening", host=cfg.server.host, port=self.server.port)
        if cfg.alerts.enabled:
            # Delivery runs beside the pipeline with its own consumer group on the alerts
            # topic, so a slow or failing endpoint never holds up monitoring.
            self.notifier = Notifier(cfg, self.metrics)
            self.notifier.start()
        self.producer = make_producer(cfg.kafka)
        self.sink = KafkaSink(self.producer, cfg.kafka.producer.delivery_timeout_seconds)
        reader = make_consumer(cfg.kafka, group_id=None, enable_auto_commit=False)
        self.store = CheckpointStore(cfg.state_topic, cfg.kafka.consumer.group_id, reader)
        self.consumer = make_consumer(cfg.kafka)
        self._wait_for_topics()
        self._know_output_topics()
        self.consumer.subscribe(self.inputs, listener=_Rebalance(self))
        self.governance.started()
        heap.settle()
        self.log.info(
            "started",
            inputs=self.inputs,
            group=cfg.kafka.consumer.group_id,
            state_topic=cfg.state_topic,
        )

    def main_loop(self) -> None:
        consumer_cfg = self.config.kafka.consumer
        while not self.should_exit:
            self.health.beat()
            self.metrics.loop_heartbeat.set(time.time())
            if self._to_restore:
                self._restore_tasks()
            try:
                batch = self.consumer.poll(
                    timeout_ms=consumer_cfg.poll_timeout_ms,
                    max_records=consumer_cfg.max_poll_records,
                )
            except KafkaError as exc:
                self.log.warning("poll_failed", error=str(exc))
                time.sleep(0.5)
                continue
            with self._lock:
                if self.governance.reload_due():
                    trigger = "sighup" if self.governance.reload_requested else "file_changed"
                    self.governance.reload(trigger)
                if batch:
                    self._process(batch)
                checkpoints = self.checkpoints
                if checkpoints.in_flight is not None:
                    checkpoints.advance(block=False)
                if checkpoints.due():
                    checkpoints.start()
            if time.monotonic() >= self._next_probe:
                self._probe()

    def shutdown(self, checkpoint: bool = True) -> int:
        """Flush, checkpoint and commit, then close; bounded by the shutdown timeout,
        counted from the stop signal when there was one."""
        timeout = self.config.shutdown_timeout_seconds
        watchdog = self._start_watchdog()
        code = 0
        try:
            self.health.ready = False
            self.health.reasons = ["shutting down"]
            owns_tasks = self.consumer is not None and self.owned
            if checkpoint and owns_tasks and not self.checkpoints.run(force=True):
                code = 1
            self.checkpoints.close()
            if self.notifier is not None and not self.notifier.stop(timeout / 3):
                self.log.warning("notifier_stop_timeout")
            if self.consumer is not None:
                self.consumer.close(autocommit=False)
            if self.store is not None:
                self.store.reader.close()
            if self.producer is not None:
                self.producer.close(timeout=max(1.0, timeout / 2))
            if self.server is not None:
                self.server.stop()
            self.governance.close()
        except (KafkaError, OSError) as exc:
            self.log.error("shutdown_error", error=str(exc))
            code = 1
        finally:
            watchdog.cancel()
        self.log.info("stopped", exit_code=code)
        return code

    def _start_watchdog(self) -> threading.Timer:
        """Once: exit(1) if the shutdown has not ended within the timeout. Started by the
        stop signal, so that a main loop stuck in a library call cannot outlive it."""
        if self._watchdog is None:
            watchdog = threading.Timer(self.config.shutdown_timeout_seconds, self._timed_out)
            watchdog.daemon = True
            watchdog.start()
            self._watchdog = watchdog
        return self._watchdog

    def _timed_out(self) -> None:
        self.log.error("shutdown_timeout", seconds=self.config.shutdown_timeout_seconds)
        os._exit(1)

    def _request_exit(self) -> None:
        self.should_exit = True
        self._start_watchdog()

    def _request_reload(self) -> None:
        # Only a flag: the reload runs on the main loop, between two batches.
        self.governance.reload_requested = True

    # -- processing -------------------------------------------------------------------
    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        order = {topic: i for i, topic in enumerate(self.inputs)}
        records: list[SourceRecord] = []
        for tp in sorted(batch, key=lambda tp: (tp.partition, order.get(tp.topic, 99))):
            if tp.partition in self.owned:
                records.extend(batch[tp])
                self.checkpoints.dirty.add(tp.partition)
        if not records:
            return
        try:
            outputs = self.pipeline.process(records)
        except Exception as exc:  # a bug must not stop the daemon or lose the records
            self.log.exception("pipeline_error", error_type=type(exc).__name__)
            outputs = self._internal_error(records, exc)
        assert self.sink is not None
        try:
            self.sink.send_all(outputs)
        except DeliveryError as exc:
            self.log.error("send_failed", error=str(exc))
            self.checkpoints.rewind()
            return
        self.governance.sent(outputs)
        self.checkpoints.records_since += len(records)

    def _internal_error(self, records: list[SourceRecord], exc: Exception) -> list[OutputRecord]:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        dlq = self.config.topics.dead_letter
        for record in records:
            self.metrics.dead_letters.labels(record.topic, "internal_error").inc()
        return [dead_letter(Rejected("internal_error", detail, r), dlq) for r in records]

    # -- rebalancing ------------------------------------------------------------------
    def release_tasks(self, revoked: set[TopicPartition], save: bool) -> None:
        tasks = {tp.partition for tp in revoked if tp.topic in self.inputs}
        with self._lock:
            if save and tasks & self.owned:
                self.checkpoints.run(tasks & self.owned)
            self._forget(tasks)
        if tasks:
            self.log.info("partitions_revoked" if save else "partitions_lost", tasks=sorted(tasks))

    def _forget(self, tasks: set[int]) -> None:
        for task in tasks:
            self.pipeline.drop(task)
            for topic in self.inputs:
                with contextlib.suppress(KeyError):
                    self.metrics.lag.remove(topic, str(task))
        self.checkpoints.forget(tasks)
        self.owned -= tasks
        self._to_restore -= tasks

    def accept_tasks(self, assigned: set[TopicPartition]) -> None:
        self._assigned_once = True
        tasks = {tp.partition for tp in assigned if tp.topic in self.inputs}
        new = tasks - self.owned
        self._to_restore |= new
        # Nothing is fetched for a task until its state is restored and it has seeked.
        self.consumer.pause(*[tp for tp in assigned if tp.partition in new])
        self.metrics.assigned_partitions.set(len(assigned))
        self.log.info("partitions_assigned", tasks=sorted(tasks))

    def _restore_tasks(self) -> None:
        assert self.store is not None
        for task in sorted(self._to_restore):
            tps = [TopicPartition(t, task) for t in self.inputs]
            tps = [tp for tp in tps if tp in self.consumer.assignment()]
            try:
                checkpoint = self.store.read(task, timeout_s=5.0)
                committed = {
                    tp.topic: self.consumer.committed(tp, timeout_ms=COORDINATOR_TIMEOUT_MS)
                    for tp in tps
                }
            except (KafkaIOError, KafkaError) as exc:
                self.log.warning("restore_failed", task=task, error=str(exc))
                return
            blob: bytes | None = None
            offsets: dict[str, int] = {}
            if usable(checkpoint, committed):
                assert checkpoint is not None
                blob, offsets = checkpoint.state, checkpoint.offsets
            elif checkpoint is not None:
                self.log.warning("checkpoint_behind_committed_offsets", task=task)
            for tp in tps:
                if tp.topic in offsets:
                    self.consumer.seek(tp, offsets[tp.topic])
            # A crash between a checkpoint and its commit leaves the group's offsets behind
            # the state: commit the checkpoint's, or lag tools report that gap until the
            # task next checkpoints (never, if its partitions stay idle).
            behind = {
                tp: OffsetAndMetadata(offsets[tp.topic], "", -1)
                for tp in tps
                if tp.topic in offsets and (committed[tp.topic] or 0) < offsets[tp.topic]
            }
            if behind:
                try:
                    self.consumer.commit(behind, timeout_ms=COORDINATOR_TIMEOUT_MS)
                except KafkaError as exc:
                    self.log.warning("commit_failed", error=str(exc))
            positions = {
                tp.topic: self.consumer.position(tp, timeout_ms=COORDINATOR_TIMEOUT_MS)
                for tp in tps
            }
            if None in positions.values():  # not known in time: the next loop tries again
                self.log.warning("restore_failed", task=task, error="position unknown")
                return
            self.metrics.restores.labels("empty" if blob is None else "checkpoint").inc()
            self.pipeline.restore(task, blob)
            self.checkpoints.last_good[task] = (positions, blob)
            self.consumer.resume(*tps)
            self._to_restore.discard(task)
            self.owned.add(task)
            self.log.info(
                "task_restored", task=task, from_checkpoint=blob is not None, offsets=offsets
            )

    # -- probes -----------------------------------------------------------------------
    def _wait_for_topics(self) -> None:
        """Inputs must exist and be co-partitioned; the state topic is created if missing."""

        def waiting(missing: list[str]) -> None:
            self.health.reasons = [f"waiting for topics {', '.join(missing)}"]

        needed = wait_for_inputs(self.consumer, self.inputs, lambda: self.should_exit, waiting)
        if ensure_state_topic(self.config, self.consumer, needed):
            self.log.info("state_topic_created", topic=self.config.state_topic, partitions=needed)
        if self.config.audit.enabled:
            ensure_topics(self.config, {self.config.audit.topic: needed})

    def _know_output_topics(self) -> None:
        """The producer learns every output topic's partitions before the first batch. A
        first send to a topic it does not know waits for that topic's metadata; on the
        embedded broker the wait now and then outlasted the shutdown timeout, holding a
        batch's dead letters back (uncommitted, so processed again after a restart)."""
        topics = self.config.topics
        outputs = [topics.review, topics.alerts, topics.dead_letter, topics.joined]
        for topic in dict.fromkeys(t for t in [*outputs, topics.approved] if t):
            try:
                self.producer.partitions_for(topic)
            except KafkaError as exc:
                self.log.warning("output_topic_unknown", topic=topic, error=str(exc))

    def _probe(self) -> None:
        self._next_probe = time.monotonic() + PROBE_INTERVAL_S
        self._broker_up = measure_lag(self.consumer, self.owned, self.inputs[0], self.metrics)
        reasons = []
        if not self._assigned_once:
            reasons.append("not yet assigned partitions")
        if self._to_restore:
            reasons.append("restoring state")
        if not self._broker_up:
            reasons.append("broker unreachable")
        if self.notifier is not None and not self.notifier.running:
            reasons.append("alert notifier stopped")
        self.health.ready = not reasons
        self.health.reasons = reasons
        self.metrics.ready.set(1 if not reasons else 0)
        self.metrics.broker_up.set(1 if self._broker_up else 0)
