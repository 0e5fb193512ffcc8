"""When and how the daemon checkpoints its tasks, and commits their offsets.

A checkpoint goes through three steps, and the group's offsets are committed only after
the last one:

1. **begin** — every dirty task's state is encoded together with the consumer's positions,
   and the deliveries of all outputs sent so far are taken over;
2. once those outputs are acknowledged, the state records are sent to the state topic
   (state must never become restorable while an output of a record before it could still
   be lost);
3. once the state records are acknowledged, the audit file is synced and the offsets are
   committed.

In the main loop, steps 2 and 3 run when the broker's acknowledgements are in, between
two batches: the loop does not stand still waiting for them, so a window that closes
meanwhile is alerted at once (Flink's asynchronous snapshots, in one thread: the state is
captured in the loop, its delivery completes beside it). Only one checkpoint is in flight
at a time. Shutdown and revocation run the three steps at once. A failed or late
acknowledgement rewinds every task to its last complete checkpoint.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from monitor.errors import DeliveryError
from monitor.kafka_io import COORDINATOR_TIMEOUT_MS, acknowledged
from monitor.outputs import OutputRecord

if TYPE_CHECKING:
    from monitor.daemon import Daemon


@dataclass(slots=True)
class InFlight:
    """A checkpoint whose records are sent, or about to be, but not yet acknowledged."""

    written: dict[int, tuple[dict[str, int], bytes]]  # task -> (offsets, state)
    # Per task, its state's records and compressed size, being compressed beside the loop.
    records: dict[int, Future[tuple[list[OutputRecord], int]]]
    deliveries: list[Any]  # of the outputs before it (step 1), then of its state (step 2)
    started: float
    deadline: float
    size: int = 0  # compressed, of all tasks
    state_sent: bool = False
    # Deliveries before this index are known to be acknowledged: each check resumes there.
    checked: int = 0


class Checkpoints:
    """The checkpoint state machine of one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.dirty: set[int] = set()
        self.last_good: dict[int, tuple[dict[str, int], bytes | None]] = {}
        self.in_flight: InFlight | None = None
        self.last_begun = time.monotonic()
        self.records_since = 0
        # LZ4 releases the GIL: compressing a task's state (megabytes) on this thread does
        # not hold up the main loop.
        self._compressor = ThreadPoolExecutor(1, thread_name_prefix="driftd-checkpoint")

    def close(self) -> None:
        self._compressor.shutdown(wait=True)

    def due(self) -> bool:
        cfg = self.daemon.config.checkpoint
        if not self.dirty or self.in_flight is not None:
            return False
        return (
            self.records_since >= cfg.max_records
            or time.monotonic() - self.last_begun >= cfg.interval_seconds
        )

    # -- the two ways to run one ------------------------------------------------------
    def start(self) -> None:
        """From the main loop: begin one, and let ``advance`` finish it between batches."""
        self.begin(None, force=False)
        self.advance(block=False)

    def run(self, tasks: set[int] | None = None, force: bool = False) -> bool:
        """All three steps now (shutdown, revocation), after any checkpoint in flight.
        False if it failed (the tasks were rewound)."""
        if not self.advance(block=True):
            return False
        self.begin(tasks, force)
        return self.advance(block=True)

    # -- steps ------------------------------------------------------------------------
    def begin(self, tasks: set[int] | None, force: bool) -> None:
        """Step 1 for ``tasks`` (default: every owned one), only the dirty ones unless
        ``force``; nothing when none is left."""
        daemon = self.daemon
        owned = daemon.owned
        targets = set(owned if tasks is None else tasks) & owned
        if not force:
            targets &= self.dirty
        if not targets:
            return
        assert daemon.sink is not None and daemon.store is not None
        started = time.perf_counter()
        deliveries = daemon.sink.take()
        written: dict[int, tuple[dict[str, int], bytes]] = {}
        records = {}
        for task in sorted(targets):
            offsets = self._positions(task)
            if offsets is None:  # stays dirty: the next checkpoint writes it
                daemon.log.warning("checkpoint_skipped", task=task, reason="position unknown")
                continue
            blob = daemon.pipeline.snapshot(task)
            records[task] = self._compressor.submit(daemon.store.records, task, offsets, blob)
            written[task] = (offsets, blob)
        timeout = daemon.config.kafka.producer.delivery_timeout_seconds
        self.in_flight = InFlight(written, records, deliveries, started, time.monotonic() + timeout)
        self.dirty -= set(written)
        self.records_since = 0
        self.last_begun = time.monotonic()

    def advance(self, block: bool) -> bool:
        """Take the checkpoint in flight as far as its acknowledgements allow (all the way
        if ``block``). False if it failed: every task is then rewound."""
        flight = self.in_flight
        if flight is None:
            return True
        sink = self.daemon.sink
        assert sink is not None
        try:
            if not self._acknowledged(flight, block):
                return True
            if not flight.state_sent:
                if not block and not all(f.done() for f in flight.records.values()):
                    return True
                flight.deliveries = []
                for task, compressed in flight.records.items():
                    task_records, size = compressed.result()
                    flight.size += size
                    flight.deliveries += [sink.deliver(r, partition=task) for r in task_records]
                flight.checked = 0
                flight.state_sent = True
                if not self._acknowledged(flight, block):
                    return True
            self.daemon.governance.sync()
        except DeliveryError as exc:
            self.daemon.log.error("checkpoint_failed", error=str(exc))
            self.rewind()
            return False
        self.in_flight = None
        self._complete(flight, block)
        return True

    def _acknowledged(self, flight: InFlight, block: bool) -> bool:
        sink = self.daemon.sink
        assert sink is not None
        if block:
            sink.wait(flight.deliveries[flight.checked :])
            flight.checked = len(flight.deliveries)
            return True
        flight.checked += acknowledged(flight.deliveries[flight.checked :])
        if flight.checked == len(flight.deliveries):
            return True
        if time.monotonic() > flight.deadline:
            raise DeliveryError("a record was not acknowledged within the delivery timeout")
        return False

    def _committed(self, offsets: Any, response: Any) -> None:
        if isinstance(response, BaseException):
            self.daemon.log.warning("commit_failed", error=str(response))

    def _complete(self, flight: InFlight, block: bool) -> None:
        daemon = self.daemon
        self.last_good.update(flight.written)
        daemon.metrics.checkpoints.inc(len(flight.written))
        daemon.metrics.checkpoint_bytes.set(flight.size)
        commit = {
            TopicPartition(topic, task): OffsetAndMetadata(offset, "", -1)
            for task, (offsets, _) in flight.written.items()
            for topic, offset in offsets.items()
        }
        # A failed commit loses nothing: the checkpoint holds these offsets, and a restore
        # uses them. From the loop the commit is not awaited (one round trip to the group
        # coordinator); before revocation or shutdown it is.
        try:
            if block:
                daemon.consumer.commit(commit, timeout_ms=COORDINATOR_TIMEOUT_MS)
            else:
                daemon.consumer.commit_async(commit, callback=self._committed)
        except KafkaError as exc:
            daemon.log.warning("commit_failed", error=str(exc))
        daemon.metrics.checkpoint_seconds.observe(time.perf_counter() - flight.started)

    def _positions(self, task: int) -> dict[str, int] | None:
        """The task's next offsets; None if the consumer could not tell in time (an owned
        task's are known, but kafka-python first resolves any other partition's)."""
        consumer = self.daemon.consumer
        positions = {}
        for topic in self.daemon.inputs:
            tp = TopicPartition(topic, task)
            if tp in consumer.assignment():
                position = consumer.position(tp, timeout_ms=COORDINATOR_TIMEOUT_MS)
                if position is None:
                    return None
                positions[topic] = position
        return positions

    # -- failures and ownership -------------------------------------------------------
    def rewind(self) -> None:
        """After a failed write, go back to the last good checkpoint of every task."""
        daemon = self.daemon
        daemon.metrics.rewinds.inc()
        assert daemon.sink is not None
        daemon.sink.discard()
        self.in_flight = None
        for task in list(daemon.owned):
            offsets, blob = self.last_good.get(task, ({}, None))
            daemon.pipeline.restore(task, blob)
            for topic, offset in offsets.items():
                daemon.consumer.seek(TopicPartition(topic, task), offset)
        self.dirty = set(daemon.owned)
        daemon.log.warning("rewound_to_checkpoint", tasks=sorted(daemon.owned))

    def forget(self, tasks: set[int]) -> None:
        """Tasks that are gone: nothing of theirs may be written or committed any more
        (another member may own them already)."""
        for task in tasks:
            self.last_good.pop(task, None)
        self.dirty -= tasks
        flight = self.in_flight
        if flight is not None:
            for task in tasks:
                flight.written.pop(task, None)
                flight.records.pop(task, None)
