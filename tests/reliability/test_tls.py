"""driftd's Kafka TLS settings reach kafka-python: mutual TLS with a private CA and the
host name checked, against a real broker behind a TLS-terminating proxy on loopback.

The embedded broker speaks plain TCP; the proxy terminates TLS (requiring a client
certificate signed by the test CA) and forwards the bytes, and the broker advertises the
proxy's address, so every connection a client makes — bootstrap and partition leaders —
goes through TLS.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trustme
import yaml
from kafka import KafkaProducer

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import Config
from monitor.kafka_io import client_options
from tests.kafkatools import FAST_GROUP, DaemonProcess, unique

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOST = "127.0.0.1"


class TlsProxy:
    """Accepts TLS on a free port and pipes each connection to ``target`` in plain TCP."""

    def __init__(self, target: tuple[str, int], context: ssl.SSLContext) -> None:
        self.target = target
        self.context = context
        self.port = free_port(HOST)
        self.server = socket.create_server((HOST, self.port))
        self.server.settimeout(0.2)
        self.sockets: list[socket.socket] = []
        self.client_subjects: list[Any] = []
        self.handshake_errors: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TlsProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.server.close()
        for sock in self.sockets:
            sock.close()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        self.sockets.append(conn)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            return
        self.sockets.append(tls)
        self.client_subjects.append(tls.getpeercert())
        tls.settimeout(None)
        upstream = socket.create_connection(self.target)
        self.sockets.append(upstream)
        threading.Thread(target=_pipe, args=(upstream, tls), daemon=True).start()
        _pipe(tls, upstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: a client certificate is required
    return context


@pytest.fixture(scope="module")
def tls_broker(ca: trustme.CA) -> Iterator[tuple[EmbeddedBroker, TlsProxy]]:
    plain_port = free_port(HOST)
    proxy = TlsProxy((HOST, plain_port), server_context(ca, HOST))
    broker = EmbeddedBroker(plain_port, HOST, advertised=f"{HOST}:{proxy.port}")
    with proxy:
        broker.start()
        try:
            yield broker, proxy
        finally:
            broker.stop()


def tls_section(ca: trustme.CA, directory: Path, check_hostname: bool = True) -> dict[str, Any]:
    client = ca.issue_cert("driftd-client@example.test")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    client.cert_chain_pems[0].write_to_path(str(directory / "client.pem"))
    client.private_key_pem.write_to_path(str(directory / "client.key"))
    return {
        "ca_file": str(directory / "ca.pem"),
        "cert_file": str(directory / "client.pem"),
        "key_file": str(directory / "client.key"),
        "check_hostname": check_hostname,
    }


def test_daemon_consumes_over_mutual_tls(
    tls_broker: tuple[EmbeddedBroker, TlsProxy], ca: trustme.CA, tmp_path: Path
) -> None:
    _, proxy = tls_broker
    topic = unique("tls-events")
    kafka: dict[str, Any] = {
        "bootstrap_servers": [f"{HOST}:{proxy.port}"],
        "security_protocol": "SSL",
        "tls": tls_section(ca, tmp_path),
        "consumer": {**FAST_GROUP, "group_id": unique("tls")},
    }
    config: dict[str, Any] = {
        "kafka": kafka,
        "topics": {"features": topic, "predictions": None},
        "server": {"host": HOST, "port": free_port()},
        "logging": {"format": "json"},
        "models": {"credit-risk": {"features": {"income": {"type": "numeric"}}}},
    }
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump(config))

    # The test's own producer uses the options driftd derives from the same section.
    options = client_options(Config.model_validate(config).kafka)
    assert options["ssl_check_hostname"] is True
    assert {options["ssl_cafile"], options["ssl_certfile"], options["ssl_keyfile"]} == {
        kafka["tls"]["ca_file"],
        kafka["tls"]["cert_file"],
        kafka["tls"]["key_file"],
    }
    producer = KafkaProducer(**options, acks="all")
    try:
        for i in range(200):
            body = {
                "id": f"t{i}",
                "model": "credit-risk",
                "ts": time.time(),
                "features": {"income": float(i)},
                "prediction": {"score": 0.5},
            }
            producer.send(topic, msgspec.json.encode(body), key=b"credit-risk")
        producer.flush(30)
    finally:
        producer.close()

    daemon = DaemonProcess(path, config["server"]["port"], tmp_path / "daemon.log").start()
    try:
        daemon.wait_for(
            lambda: daemon.metric_total("driftd_records_consumed_total") == 200, 60, "consumed"
        )
    finally:
        daemon.stop()
    # Every connection was TLS with the client certificate the config named.
    assert proxy.client_subjects and all(proxy.client_subjects)
    assert not proxy.handshake_errors


CONNECT = """
import json, sys
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from monitor.config import KafkaConfig
from monitor.kafka_io import client_options

section = KafkaConfig.model_validate(json.loads(open(sys.argv[1]).read()))
try:
    KafkaProducer(**client_options(section), bootstrap_timeout_ms=5000).close()
except KafkaTimeoutError:
    sys.exit(3)
"""


def connects(section: dict[str, Any], path: Path) -> bool:
    """Whether a client built from ``section`` bootstraps. In a subprocess: kafka-python
    leaks its sockets when a constructor fails."""
    path.write_text(json.dumps(section))
    done = subprocess.run(
        [sys.executable, "-c", CONNECT, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr
    return done.returncode == 0


def test_host_name_is_checked(ca: trustme.CA, tmp_path: Path) -> None:
    """A certificate for another host name is refused with ``check_hostname: true`` and
    accepted with ``false`` — so the setting reaches the client's TLS context."""
    plain_port = free_port(HOST)
    proxy = TlsProxy((HOST, plain_port), server_context(ca, "kafka.other.example"))
    broker = EmbeddedBroker(plain_port, HOST, advertised=f"{HOST}:{proxy.port}")
    with proxy:
        broker.start()
        try:
            for check in (True, False):
                section = {
                    "bootstrap_servers": [f"{HOST}:{proxy.port}"],
                    "security_protocol": "SSL",
                    "tls": tls_section(ca, tmp_path, check_hostname=check),
                }
                before = len(proxy.client_subjects)
                connected = connects(section, tmp_path / "section.json")
                assert connected is not check
                assert (len(proxy.client_subjects) > before) is not check
        finally:
            broker.stop()
