"""The order of a checkpoint's steps: outputs acknowledged, then state sent, then state
acknowledged, then offsets committed; and what a failure at each step leaves behind.

Deliveries are kafka-python's own futures, completed by the test: that is how the broker's
acknowledgements reach the daemon, and it lets every interleaving be set up exactly. The
real broker, with kill -9 and restarts, is in test_crash_equivalence.py and
tests/integration/test_daemon_broker.py.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from kafka import OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.future import Future
from prometheus_client import CollectorRegistry

from monitor.checkpoint import CheckpointStore
from monitor.checkpointing import Checkpoints
from monitor.config import Config
from monitor.kafka_io import KafkaSink
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord

INPUTS = ["features", "predictions"]
STATE = "driftd-state"


class Producer:
    """Records every send; its deliveries complete when the test says so."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int | None, bytes, Future]] = []
        self.acknowledge_on_flush = False

    def send(self, topic: str, value: bytes, key: Any, headers: Any, partition: Any) -> Future:
        future = Future()
        self.sent.append((topic, partition, value, future))
        return future

    def flush(self, timeout: float | None = None) -> None:
        if self.acknowledge_on_flush:
            for *_, future in self.sent:
                if not future.is_done:
                    future.success(None)

    def topics(self) -> list[str]:
        return [topic for topic, *_ in self.sent]

    def acknowledge(self, topic: str) -> None:
        for sent_topic, _, _, future in self.sent:
            if sent_topic == topic and not future.is_done:
                future.success(None)


class Consumer:
    def __init__(self, tasks: set[int]) -> None:
        self.positions = {TopicPartition(t, p): 100 * p + 10 for t in INPUTS for p in tasks}
        self.commits: list[dict[TopicPartition, OffsetAndMetadata]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        assert timeout_ms is not None  # kafka-python's default waits for ever
        return self.positions[tp]

    def commit(
        self, offsets: dict[TopicPartition, OffsetAndMetadata], timeout_ms: int | None = None
    ) -> None:
        assert timeout_ms is not None
        self.commits.append(offsets)

    def commit_async(self, offsets: dict[TopicPartition, OffsetAndMetadata], callback: Any) -> None:
        self.commits.append(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


class Pipeline:
    def __init__(self) -> None:
        self.snapshots = 0
        self.restored: list[tuple[int, bytes | None]] = []

    def snapshot(self, task: int) -> bytes:
        self.snapshots += 1
        return f"state of task {task}, snapshot {self.snapshots}".encode()

    def restore(self, task: int, blob: bytes | None) -> None:
        self.restored.append((task, blob))


def daemon(tasks: set[int], delivery_timeout: float = 30.0) -> Any:
    config = Config.model_validate(
        {
            "topics": {"features": "features", "predictions": "predictions"},
            "kafka": {"producer": {"delivery_timeout_seconds": delivery_timeout}},
            "models": {"m": {"features": {"x": {"type": "numeric"}}}},
        }
    )
    producer = Producer()
    fake = SimpleNamespace(
        config=config,
        owned=set(tasks),
        inputs=INPUTS,
        producer=producer,
        sink=KafkaSink(producer, delivery_timeout),
        store=CheckpointStore(STATE, "group", reader=None),
        pipeline=Pipeline(),
        consumer=Consumer(tasks),
        metrics=Metrics(CollectorRegistry()),
        log=get_logger("test"),
        governance=SimpleNamespace(synced=0),
    )
    fake.governance.sync = lambda: setattr(fake.governance, "synced", fake.governance.synced + 1)
    return fake


def compressed(checkpoints: Checkpoints) -> Checkpoints:
    """Once the state of the checkpoint in flight is compressed (beside the loop)."""
    assert checkpoints.in_flight is not None
    for future in checkpoints.in_flight.records.values():
        future.result()
    return checkpoints


def output(topic: str = "alerts") -> OutputRecord:
    return OutputRecord(topic, b"{}")


def committed(fake: Any) -> list[dict[tuple[str, int], int]]:
    return [
        {(tp.topic, tp.partition): m.offset for tp, m in c.items()} for c in fake.consumer.commits
    ]


def test_state_goes_out_after_the_outputs_and_offsets_are_committed_last() -> None:
    fake = daemon({0})
    checkpoints = Checkpoints(fake)
    fake.sink.send(output())
    checkpoints.dirty.add(0)
    checkpoints.start()
    assert checkpoints.in_flight is not None
    assert fake.producer.topics() == ["alerts"]  # no state while the alert may be lost
    assert not checkpoints.due()  # one checkpoint in flight at a time

    fake.sink.send(output("review"))  # from a batch after the checkpoint began
    fake.producer.acknowledge("alerts")
    assert compressed(checkpoints).advance(block=False)
    assert fake.producer.topics() == ["alerts", "review", STATE]
    assert fake.consumer.commits == []
    assert fake.governance.synced == 0

    fake.producer.acknowledge(STATE)
    assert checkpoints.advance(block=False)
    assert checkpoints.in_flight is None
    assert fake.governance.synced == 1
    assert committed(fake) == [{("features", 0): 10, ("predictions", 0): 10}]
    assert checkpoints.last_good[0][1] == b"state of task 0, snapshot 1"
    # The later batch's output is not part of this checkpoint: the next one awaits it.
    assert fake.sink.pending == 1
    assert fake.metrics.registry.get_sample_value("driftd_checkpoints_total") == 1


def test_a_lost_output_rewinds_and_neither_state_nor_offsets_are_written() -> None:
    fake = daemon({0})
    checkpoints = Checkpoints(fake)
    checkpoints.last_good[0] = ({"features": 3, "predictions": 4}, b"earlier state")
    fake.sink.send(output())
    checkpoints.dirty.add(0)
    checkpoints.start()
    fake.producer.sent[0][3].failure(KafkaTimeoutError("expired"))

    assert not checkpoints.advance(block=False)
    assert fake.producer.topics() == ["alerts"]
    assert fake.consumer.commits == []
    assert checkpoints.in_flight is None
    assert fake.pipeline.restored == [(0, b"earlier state")]
    assert sorted(fake.consumer.seeks) == [
        (TopicPartition("features", 0), 3),
        (TopicPartition("predictions", 0), 4),
    ]
    assert checkpoints.dirty == {0}
    assert fake.metrics.registry.get_sample_value("driftd_rewinds_total") == 1


def test_a_lost_state_record_rewinds_without_a_commit() -> None:
    fake = daemon({0})
    checkpoints = Checkpoints(fake)
    checkpoints.dirty.add(0)
    checkpoints.start()  # no outputs before it: the state goes out once compressed
    compressed(checkpoints).advance(block=False)
    assert fake.producer.topics() == [STATE]
    fake.producer.sent[0][3].failure(KafkaTimeoutError("expired"))
    assert not checkpoints.advance(block=False)
    assert fake.consumer.commits == []
    assert 0 not in checkpoints.last_good
    assert fake.pipeline.restored == [(0, None)]


def test_an_acknowledgement_later_than_the_delivery_timeout_rewinds() -> None:
    fake = daemon({0}, delivery_timeout=0.05)
    checkpoints = Checkpoints(fake)
    fake.sink.send(output())
    checkpoints.dirty.add(0)
    checkpoints.start()
    assert checkpoints.advance(block=False)  # still waiting, within the timeout
    time.sleep(0.1)
    assert not checkpoints.advance(block=False)
    assert fake.consumer.commits == []
    assert fake.producer.topics() == ["alerts"]


def test_a_task_given_up_mid_flight_is_neither_written_nor_committed() -> None:
    fake = daemon({0, 1})
    checkpoints = Checkpoints(fake)
    fake.sink.send(output())
    checkpoints.dirty |= {0, 1}
    checkpoints.start()
    checkpoints.forget({1})  # lost in a rebalance: another member may own it now
    fake.owned.discard(1)
    fake.producer.acknowledge("alerts")
    compressed(checkpoints).advance(block=False)
    fake.producer.acknowledge(STATE)
    assert checkpoints.advance(block=False)
    partitions = [partition for topic, partition, *_ in fake.producer.sent if topic == STATE]
    assert partitions == [0]
    assert committed(fake) == [{("features", 0): 10, ("predictions", 0): 10}]


def test_a_blocking_checkpoint_first_completes_the_one_in_flight() -> None:
    fake = daemon({0})
    checkpoints = Checkpoints(fake)
    fake.sink.send(output())
    checkpoints.dirty.add(0)
    checkpoints.start()
    fake.consumer.positions = {tp: offset + 5 for tp, offset in fake.consumer.positions.items()}
    fake.producer.acknowledge_on_flush = True  # the broker answers while the flush waits

    assert checkpoints.run(force=True)  # as at shutdown
    assert checkpoints.in_flight is None
    assert committed(fake) == [
        {("features", 0): 10, ("predictions", 0): 10},
        {("features", 0): 15, ("predictions", 0): 15},
    ]
    assert checkpoints.last_good[0][1] == b"state of task 0, snapshot 2"


@pytest.mark.parametrize("dirty", [set(), {0}])
def test_nothing_is_due_without_new_records_or_before_the_interval(dirty: set[int]) -> None:
    fake = daemon({0})
    checkpoints = Checkpoints(fake)
    checkpoints.dirty |= dirty
    assert not checkpoints.due()  # the interval (5 s) has not passed
    checkpoints.records_since = fake.config.checkpoint.max_records
    assert checkpoints.due() == bool(dirty)


def test_a_task_whose_position_is_not_known_in_time_is_left_for_the_next_checkpoint() -> None:
    fake = daemon({0, 1})
    fake.consumer.positions[TopicPartition("predictions", 1)] = None  # the call timed out
    checkpoints = Checkpoints(fake)
    checkpoints.dirty |= {0, 1}
    checkpoints.start()
    compressed(checkpoints).advance(block=False)
    fake.producer.acknowledge(STATE)
    assert checkpoints.advance(block=False)
    assert committed(fake) == [{("features", 0): 10, ("predictions", 0): 10}]
    assert set(checkpoints.last_good) == {0}
    assert checkpoints.dirty == {1}  # written by the next checkpoint instead
