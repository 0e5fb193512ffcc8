"""Foreign libraries' log records go through driftd's format, minus known shutdown noise."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from contextlib import redirect_stderr

import pytest
from kafka.net.transport import KafkaTCPTransport

from monitor import logs


@pytest.fixture
def stderr() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    with redirect_stderr(stream):
        logs.configure(fmt="json")
    yield stream
    logging.getLogger().handlers.clear()


@pytest.fixture
def transport() -> Iterator[KafkaTCPTransport]:
    ours, theirs = socket.socketpair()
    yield KafkaTCPTransport(None, ours, host="127.0.0.1")
    ours.close()
    theirs.close()


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_read_on_a_socket_closed_by_the_consumer_is_not_an_error(
    stderr: io.StringIO, transport: KafkaTCPTransport
) -> None:
    # The state KafkaConsumer.close() leaves when it closes the connection from the
    # caller's thread just before the network thread reads from it.
    transport._closed, transport._sock = True, None
    _, error = transport._sock_recv()
    assert error is not None
    assert records(stderr) == []


def test_a_failed_read_on_an_open_transport_is_still_logged_with_its_traceback(
    stderr: io.StringIO, transport: KafkaTCPTransport
) -> None:
    transport._sock.close()
    _, error = transport._sock_recv()
    assert error is not None
    (record,) = records(stderr)
    assert record["level"] == "error" and record["logger"] == "kafka.net.transport"
    assert "Traceback" in record["exception"]


def test_configuring_twice_installs_the_filter_once(stderr: io.StringIO) -> None:
    with redirect_stderr(stderr):
        logs.configure(fmt="json")
    filters = logging.getLogger("kafka.net.transport").filters
    assert sum(isinstance(f, logs.ReadAfterClose) for f in filters) == 1
