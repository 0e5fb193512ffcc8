"""Kafka clients built from the config, the output sink, and topic administration.

Only kafka-python's public API is used; its exceptions are wrapped in
:class:`~monitor.errors.KafkaIOError` so callers handle one family of errors.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError, KafkaTimeoutError, TopicAlreadyExistsError
from kafka.net.sasl.oauth import AbstractTokenProvider

from monitor.config import Config, KafkaConfig
from monitor.errors import DeliveryError, KafkaIOError
from monitor.outputs import OutputRecord


class _StaticToken(AbstractTokenProvider):
    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def token(self) -> str:
        return self._token


def client_options(cfg: KafkaConfig) -> dict[str, Any]:
    """Connection and security options shared by consumer, producer and admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": list(cfg.bootstrap_servers),
        "client_id": cfg.client_id,
        "security_protocol": cfg.security_protocol,
    }
    if cfg.tls is not None:
        tls = cfg.tls
        options["ssl_check_hostname"] = tls.check_hostname
        if tls.ca_file:
            options["ssl_cafile"] = str(tls.ca_file)
        if tls.cert_file:
            options["ssl_certfile"] = str(tls.cert_file)
        if tls.key_file:
            options["ssl_keyfile"] = str(tls.key_file)
        if tls.key_password is not None:
            options["ssl_password"] = tls.key_password.get_secret_value()
    if cfg.sasl is not None:
        sasl = cfg.sasl
        options["sasl_mechanism"] = sasl.mechanism
        if sasl.mechanism == "OAUTHBEARER":
            assert sasl.oauth_token is not None
            options["sasl_oauth_token_provider"] = _StaticToken(sasl.oauth_token.get_secret_value())
        else:
            assert sasl.password is not None
            options["sasl_plain_username"] = sasl.username
            options["sasl_plain_password"] = sasl.password.get_secret_value()
    return options


def consumer_options(cfg: KafkaConfig) -> dict[str, Any]:
    c = cfg.consumer
    return {
        **client_options(cfg),
        "group_id": c.group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": c.auto_offset_reset,
        "max_poll_records": c.max_poll_records,
        "max_poll_interval_ms": c.max_poll_interval_ms,
        "session_timeout_ms": c.session_timeout_ms,
        "heartbeat_interval_ms": c.heartbeat_interval_ms,
        "fetch_max_bytes": c.fetch_max_bytes,
        "max_partition_fetch_bytes": c.max_partition_fetch_bytes,
        "fetch_max_wait_ms": c.fetch_max_wait_ms,
        # The range assignor gives one member the same partition number of every
        # co-partitioned input topic, which is what keeps a task's inputs together.
        "partition_assignment_strategy": (RangePartitionAssignor,),
        "allow_auto_create_topics": False,
    }


def make_consumer(cfg: KafkaConfig, **overrides: Any) -> KafkaConsumer:
    try:
        return KafkaConsumer(**{**consumer_options(cfg), **overrides})
    except KafkaError as exc:
        raise KafkaIOError(f"cannot create Kafka consumer: {exc}") from exc


def producer_options(cfg: KafkaConfig) -> dict[str, Any]:
    p = cfg.producer
    return {
        **client_options(cfg),
        "acks": "all",
        "linger_ms": p.linger_ms,
        "batch_size": p.batch_size,
        "compression_type": p.compression_type,
        "request_timeout_ms": p.request_timeout_ms,
        # kafka-python insists on delivery > linger + request timeouts.
        "delivery_timeout_ms": max(
            int(p.delivery_timeout_seconds * 1000), p.linger_ms + p.request_timeout_ms + 1
        ),
        "max_block_ms": int(p.delivery_timeout_seconds * 1000),
        # kafka-python 3's idempotent producer (its default) never recovers once a batch
        # that was already retried expires: it drops its producer id, the InitProducerId
        # request fails while the broker is away and is never retried, and every later
        # send waits forever. driftd is at-least-once anyway (a failed flush rewinds to the
        # last checkpoint); one request in flight per connection keeps each partition in
        # order, so an older checkpoint never lands after a newer one.
        "enable_idempotence": False,
        "max_in_flight_requests_per_connection": 1,
    }


def make_producer(cfg: KafkaConfig) -> KafkaProducer:
    try:
        return KafkaProducer(**producer_options(cfg))
    except KafkaError as exc:
        raise KafkaIOError(f"cannot create Kafka producer: {exc}") from exc


FLUSH_STEP_SECONDS = 1.0
# Consumer calls that wait for the group coordinator (commit, committed offsets, a position
# not yet known) are bounded: kafka-python's default is to wait for ever, and a broker that
# stops answering must not hold the main loop, or a rebalance listener, for ever.
COORDINATOR_TIMEOUT_MS = 10_000


class KafkaSink:
    """Writes output records; ``flush`` returns only when every one is acknowledged.

    Sends are asynchronous so a batch's outputs travel together; a failed send is
    raised from ``flush`` as :class:`DeliveryError`, never dropped.
    """

    def __init__(self, producer: KafkaProducer, timeout_seconds: float) -> None:
        self.producer = producer
        self.timeout_seconds = timeout_seconds
        self._futures: list[Any] = []

    def send(self, record: OutputRecord, partition: int | None = None) -> None:
        self._futures.append(self.deliver(record, partition))

    def deliver(self, record: OutputRecord, partition: int | None = None) -> Any:
        """Send, handing the delivery to the caller to await (``flush`` does not)."""
        try:
            return self.producer.send(
                record.topic,
                value=record.value,
                key=record.key,
                headers=record.headers or None,
                partition=partition,
            )
        except KafkaError as exc:
            raise DeliveryError(f"send to {record.topic} failed: {exc}") from exc

    def send_all(self, records: Iterable[OutputRecord]) -> None:
        for record in records:
            self.send(record)

    @property
    def pending(self) -> int:
        return len(self._futures)

    def take(self) -> list[Any]:
        """Hand over the deliveries of everything sent so far, to be awaited later."""
        futures, self._futures = self._futures, []
        return futures

    def flush(self) -> None:
        self.wait(self.take())

    def wait(self, futures: list[Any]) -> None:
        """Return once every one of ``futures`` is acknowledged; DeliveryError if not."""
        if not futures:
            return
        # kafka-python's flush(timeout) waits up to ``timeout`` for *each* pending batch:
        # with the broker unreachable one call blocked for a multiple of the delivery
        # timeout. Short calls up to one deadline bound the whole wait by it.
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            remaining = deadline - time.monotonic()
            try:
                self.producer.flush(timeout=max(0.0, min(remaining, FLUSH_STEP_SECONDS)))
                break
            except KafkaTimeoutError as exc:
                if remaining <= 0:
                    raise DeliveryError(f"flush failed: {exc}") from exc
            except KafkaError as exc:
                raise DeliveryError(f"flush failed: {exc}") from exc
        if acknowledged(futures) < len(futures):
            raise DeliveryError("a record was not acknowledged within the delivery timeout")

    def discard(self) -> None:
        """Forget unflushed sends (after a failure the pipeline rewinds and resends)."""
        self._futures = []


def acknowledged(futures: list[Any]) -> int:
    """How many deliveries, from the first on, are acknowledged (without waiting);
    DeliveryError if one of them failed."""
    for count, future in enumerate(futures):
        if not future.is_done:
            return count
        if future.failed():
            raise DeliveryError(f"a record was not written: {future.exception}") from (
                future.exception if isinstance(future.exception, BaseException) else None
            )
    return len(futures)


def ensure_topics(
    config: Config,
    partitions: dict[str, int],
    replication: int = 1,
    timeout_s: float = 30,
    topic_configs: dict[str, str] | None = None,
) -> set[str]:
    """Create the topics that do not exist yet; the names it created."""
    admin = make_admin(config.kafka, timeout_s)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name, count, replication, topic_configs=dict(topic_configs or {}))
            for name, count in partitions.items()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
        return {topic.name for topic in wanted}
    except KafkaError as exc:
        raise KafkaIOError(f"cannot create topics: {exc}") from exc
    finally:
        admin.close()


def make_admin(cfg: KafkaConfig, timeout_s: float = 30) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(**client_options(cfg), request_timeout_ms=int(timeout_s * 1000))
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise KafkaIOError(f"cannot reach Kafka at {cfg.bootstrap_servers}: {exc}") from exc
            time.sleep(0.5)
