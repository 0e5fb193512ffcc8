"""A rebalance listener whose work runs on a worker thread lets the consumer go on.

kafka-python's network thread sleeps through a future resolved on another thread; after an
eviction nothing else wakes it, and ``poll()`` waits for the listener. The worker must wake
it (``monitor/rebalance.py``); without that, this consumer stood still inside ``poll()``
for over 35 s here, and the daemon for two minutes in the CI run that found it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition

from monitor.broker import EmbeddedBroker
from monitor.rebalance import in_worker_thread
from tests.kafkatools import create_topics, unique

pytestmark = [pytest.mark.integration]

MAX_POLL_INTERVAL_MS = 2_000
# Far below the minutes the consumer stood still for, far above a rejoin (~1 s here).
REJOIN_DEADLINE_S = 30.0


class _SlowRelease(AsyncConsumerRebalanceListener):
    """Releases lost partitions on a worker thread that finishes after the listener has
    started waiting for it (so the network thread is asleep by then)."""

    def __init__(self) -> None:
        self.consumer: Any = None
        self.lost: list[set[TopicPartition]] = []
        self.assigned: list[set[TopicPartition]] = []

    def _release(self, lost: set[TopicPartition]) -> None:
        time.sleep(0.5)
        if lost:  # the first join revokes nothing
            self.lost.append(set(lost))

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await in_worker_thread(self._release, revoked, name="test-release", consumer=self.consumer)

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        await in_worker_thread(self._release, lost, name="test-release", consumer=self.consumer)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.assigned.append(set(assigned))


def _poll_until(consumer: KafkaConsumer, done: Any, deadline_s: float) -> None:
    """Poll on a thread of its own: a consumer standing still blocks inside ``poll()``."""
    deadline = time.monotonic() + deadline_s

    def loop() -> None:
        while not done() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)

    poller = threading.Thread(target=loop, daemon=True)
    poller.start()
    poller.join(deadline_s + 5)
    assert not poller.is_alive(), "the consumer stood still inside poll()"
    assert done(), "the consumer did not rejoin in time"


def test_consumer_rejoins_after_eviction_when_the_listener_works_on_a_thread(
    broker: EmbeddedBroker,
) -> None:
    topic = unique("wake")
    create_topics(broker.bootstrap, {topic: 1})
    listener = _SlowRelease()
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        group_id=unique("g"),
        enable_auto_commit=False,
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=2_000,
        heartbeat_interval_ms=500,
    )
    listener.consumer = consumer
    try:
        consumer.subscribe([topic], listener=listener)
        _poll_until(consumer, lambda: listener.assigned, 60)
        # No poll for longer than max_poll_interval_ms: the member leaves the group and,
        # at its next poll, finds its partitions lost.
        time.sleep(MAX_POLL_INTERVAL_MS / 1000 * 2)
        _poll_until(consumer, lambda: len(listener.assigned) >= 2, REJOIN_DEADLINE_S)
        assert listener.lost == [{TopicPartition(topic, 0)}]
        assert listener.assigned[-1] == {TopicPartition(topic, 0)}
    finally:
        consumer.close(autocommit=False)
