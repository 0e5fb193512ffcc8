"""Secrets and sensitive feature values never reach a log line or a metric, through normal
and error paths; the probe server binds where configured and bounds what it accepts."""

from __future__ import annotations

import base64
import copy
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from monitor import cli
from monitor.broker import EmbeddedBroker, free_port
from monitor.demo.traffic import NewCategory, TrafficGenerator
from tests.kafkatools import DaemonProcess, create_topics, decode_values, produce, read_all, unique
from tests.notify.receiver import Received, Receiver, Reply
from tests.reliability.helpers import FEATURES, daemon_config, drifts, metric_sum, wait_until

TAG = uuid.uuid4().hex[:12]
SASL_PASSWORD = f"sasl-pw-{TAG}"
URL_TOKEN = f"urltoken{TAG}"
AUTH_TOKEN = f"authtoken-{TAG}"
SIGNING_SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SENSITIVE_CATEGORY = f"PII-{TAG}"
SENSITIVE_NUMBER = 987654.3210987
SECRETS = (SASL_PASSWORD, URL_TOKEN, AUTH_TOKEN, SIGNING_SECRET, SIGNING_SECRET[6:])
SENSITIVE = (SENSITIVE_CATEGORY, "987654.321", "9.876543")
MODEL = "credit-risk"


def assert_clean(text: str, what: str, also: tuple[str, ...] = ()) -> None:
    for needle in (*SECRETS, *SENSITIVE, *also):
        assert needle not in text, f"{needle!r} appears in {what}"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


SASL_SECTION: dict[str, Any] = {
    "security_protocol": "SASL_PLAINTEXT",
    "sasl": {"mechanism": "PLAIN", "username": "driftd", "password": {"env": "DRIFTD_SASL_PW"}},
}


def base_config(bootstrap: str = "127.0.0.1:9", **kafka: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": bootstrap, **copy.deepcopy(kafka)},
        "topics": {"features": "in", "predictions": None},
        "logging": {"format": "json"},
        "models": {MODEL: {"features": {"income": {"type": "numeric"}}}},
    }


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("valid", lambda c: c),
        ("typo_key", lambda c: c["kafka"]["sasl"].update(passwrd=SASL_PASSWORD) or c),
        ("bad_mechanism", lambda c: c["kafka"]["sasl"].update(mechanism=SASL_PASSWORD) or c),
        ("wrong_type", lambda c: c["kafka"]["sasl"].update(password=[SASL_PASSWORD]) or c),
        ("literal", lambda c: c["kafka"]["sasl"].update(password=SASL_PASSWORD) or c),
        ("missing_env", lambda c: c["kafka"]["sasl"].update(password={"env": "NOPE_" + TAG}) or c),
        (
            "bad_url",
            lambda c: (
                c.update(
                    alerts={
                        "sinks": {
                            "hook": {
                                "type": "webhook",
                                "url": f"ftp://u:{URL_TOKEN}@h/x",
                                "secret": SIGNING_SECRET,
                            }
                        },
                        "routes": [{"sinks": ["hook"]}],
                    }
                )
                or c
            ),
        ),
        (
            "bad_secret",
            lambda c: (
                c.update(
                    alerts={
                        "sinks": {
                            "hook": {
                                "type": "webhook",
                                "url": f"https://h/x?t={URL_TOKEN}",
                                "secret": "whsec_" + AUTH_TOKEN,
                            }
                        },
                        "routes": [{"sinks": ["hook"]}],
                    }
                )
                or c
            ),
        ),
    ],
)
def test_check_config_never_prints_a_secret(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    change: Any,
) -> None:
    monkeypatch.setenv("DRIFTD_SASL_PW", SASL_PASSWORD)
    config = change(base_config(**SASL_SECTION))
    path = tmp_path / "driftd.yaml"
    path.write_text(yaml.safe_dump(config))
    code = cli.main(["check-config", str(path)])
    output = "".join(capsys.readouterr())
    assert code == (0 if name in ("valid", "literal") else 1), output
    assert_clean(output, f"check-config output ({name})")
    # driftd run refuses the same file before connecting, with the same care.
    if code:
        assert cli.main(["run", "-c", str(path)]) == 2
        assert_clean("".join(capsys.readouterr()), f"driftd run output ({name})")


def test_invalid_yaml_on_a_secret_line(tmp_path: Path) -> None:
    """The one subprocess run of check-config: a YAML error quotes no line content."""
    path = tmp_path / "driftd.yaml"
    path.write_text(
        f'kafka:\n  sasl:\n    password: "{SASL_PASSWORD}\n    mechanism: PLAIN\nmodels: {{}}\n'
    )
    code, output = run_cli("check-config", str(path))
    assert code == 1 and "invalid YAML" in output
    assert_clean(output, "the YAML error")


@pytest.fixture(scope="module")
def sasl_run(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``driftd run`` with SASL against the embedded broker, which has no SASL: started
    here and collected by the test, so that kafka-python's fixed 30 s bootstrap timeout
    passes while the other tests of this module run."""
    config = base_config(broker.bootstrap, **SASL_SECTION)
    config["server"] = {"port": free_port()}
    path = tmp_path_factory.mktemp("sasl") / "driftd.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "-c", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "DRIFTD_SASL_PW": SASL_PASSWORD},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def raw_request(host: str, port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def hostile_messages(topic: str) -> list[tuple[str, bytes | None, bytes | None]]:
    """Dead letters carrying the sensitive values (kept in the DLQ topic, never logged)."""
    key = MODEL.encode()
    base = {"id": "s1", "model": MODEL, "ts": time.time(), "prediction": {"score": 0.5}}
    wrong = {**base, "features": {"debt_to_income": SENSITIVE_CATEGORY}}
    unknown = {
        **base,
        "model": SENSITIVE_CATEGORY,
        "features": {"debt_to_income": SENSITIVE_NUMBER},
    }
    stale = {**base, "ts": SENSITIVE_CATEGORY, "features": {"debt_to_income": 0.3}}
    return [
        (topic, key, msgspec.json.encode(wrong)),
        (topic, key, msgspec.json.encode(unknown)),
        (topic, key, msgspec.json.encode(stale)),
        (topic, key, f'{{"id": "{SENSITIVE_CATEGORY}", "model": '.encode()),
        (topic, key, b'{"id": "\xff' + SENSITIVE_CATEGORY.encode() + b'"}'),
        (
            topic,
            key,
            msgspec.json.encode(
                {**base, "id": SENSITIVE_CATEGORY * 30, "features": {"debt_to_income": 1.0}}
            ),
        ),
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_running_daemon_leaks_nothing(
    broker: EmbeddedBroker, tmp_path: Path, sasl_run: subprocess.Popen[bytes]
) -> None:
    topic, alerts, dead = unique("events"), unique("alerts"), unique("dead")
    create_topics(broker.bootstrap, {topic: 1, alerts: 1, dead: 1})
    answers = iter([400, 500, 500])

    def script(_index: int, request: Received) -> Reply:
        # Echo the request into a failing answer: the response body must not be logged.
        status = next(answers, 200)
        return Reply(status, body=request.body if status >= 300 else b"{}")

    receiver = Receiver(script).start()
    host = "127.0.0.2"
    path = tmp_path / "driftd.yaml"
    config = daemon_config(
        path,
        broker.bootstrap,
        [MODEL],
        {
            "topics": {
                "features": topic,
                "predictions": None,
                "alerts": alerts,
                "dead_letter": dead,
            },
            "kafka": {"consumer": {"group_id": unique("sec")}},
            "server": {"host": host, "port": free_port(host)},
            "alerts": {
                "sinks": {
                    "hook": {
                        "type": "webhook",
                        "url": {"env": "DRIFTD_HOOK_URL"},
                        "secret": {"env": "DRIFTD_HOOK_SECRET"},
                        "headers": {"Authorization": {"env": "DRIFTD_HOOK_AUTH"}},
                    }
                },
                "routes": [{"sinks": ["hook"]}],
                "delivery": {
                    "max_attempts": 2,
                    "backoff_initial_seconds": 0.1,
                    "backoff_max_seconds": 0.2,
                },
            },
        },
        warmup=2000,
    )
    env = {
        "DRIFTD_HOOK_URL": receiver.url(f"/hook?token={URL_TOKEN}"),
        "DRIFTD_HOOK_SECRET": SIGNING_SECRET,
        "DRIFTD_HOOK_AUTH": f"Bearer {AUTH_TOKEN}",
    }
    per_model = 8000
    spec = [*drifts(per_model)[:1], NewCategory("region", SENSITIVE_CATEGORY, 0.4, 3000)]
    generator = TrafficGenerator(FEATURES, 3, model=MODEL, drifts=spec)
    batch = generator.batch(per_model)
    batch["income"][::97] = SENSITIVE_NUMBER  # type: ignore[call-overload]  # numeric: an array
    messages: list[tuple[str, bytes | None, bytes | None]] = [
        (topic, MODEL.encode(), v) for v in generator.encode_events(batch)
    ]
    messages[4000:4000] = hostile_messages(topic)
    log = tmp_path / "daemon.log"
    os.environ.update(env)
    try:
        daemon = DaemonProcess(path, config["server"]["port"], log, host=host).start()
    finally:
        for name in env:
            os.environ.pop(name)
    try:
        daemon.wait_ready()
        # The probe server listens on the configured address only.
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", daemon.port), timeout=2).close()
        produce(broker.bootstrap, messages)
        wait_until(
            lambda: metric_sum(daemon, "driftd_records_consumed_total") == len(messages),
            60,
            "every record consumed",
        )
        # Alerts reach the receiver: the first answered 400 (dead-lettered), the next two
        # 500 (retried, then delivered or given up).
        receiver.wait_for(lambda: len(receiver.requests) >= 4, 30, "deliveries")
        assert any(r.answered == 400 for r in receiver.requests)
        assert all(
            r.headers.get("authorization") == f"Bearer {AUTH_TOKEN}" for r in receiver.requests
        )
        wait_until(
            lambda: (
                metric_sum(daemon, "driftd_alert_deliveries_total", {"outcome": "rejected"}) >= 1
            ),
            20,
            "a rejected delivery",
        )
        probe_abuse(host, daemon)
        _, metrics_text = daemon.http("/metrics")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        daemon.stop()
        receiver.stop()
    letters = decode_values(read_all(broker.bootstrap, dead))
    reasons = {x["reason"] for x in letters}
    assert {
        "wrong_type",
        "unknown_model",
        "invalid_timestamp",
        "invalid_json",
        "invalid_utf8",
        "invalid_id",
    } <= reasons, reasons
    assert any(SENSITIVE_CATEGORY in (x.get("payload") or "") for x in letters)
    assert_clean(metrics_text, "/metrics")
    text = log.read_text()
    assert "alert_rejected" in text and "alert_delivery_retry" in text
    assert_clean(text, "the daemon's log", also=(receiver.url("/hook"),))


def probe_abuse(host: str, daemon: DaemonProcess) -> None:
    port = daemon.port
    long_line = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status_of(raw_request(host, port, long_line)) == 414
    many = (
        b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n"
    )
    assert status_of(raw_request(host, port, many)) == 431
    huge_header = b"GET /healthz HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n"
    assert status_of(raw_request(host, port, huge_header)) == 431
    for method in (b"POST", b"PUT", b"DELETE"):
        reply = raw_request(
            host, port, method + b" /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        )
        assert status_of(reply) == 405
    for method in (b"HEAD", b"OPTIONS", b"TRACE", b"BREW"):
        reply = raw_request(host, port, method + b" / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_of(reply) == 501, (method, reply[:80])
    # Not HTTP at all (a TLS hello): answered as HTTP/0.9, a bare error page with 400.
    assert b"400" in raw_request(host, port, b"\x16\x03\x01garbage\r\n\r\n")
    # A slow client is cut off by the socket timeout and blocks nobody.
    slow = socket.create_connection((host, port), timeout=10)
    slow.sendall(b"GET /healthz HTTP/1.1\r\n")
    assert daemon.http("/healthz")[0] == 200
    started = time.monotonic()
    assert slow.recv(1024) == b"" and time.monotonic() - started < 8
    slow.close()
    assert daemon.http("/healthz")[0] == 200 and daemon.http("/readyz")[0] == 200


@pytest.mark.integration
@pytest.mark.slow
def test_sasl_startup_failure_logs_no_secret(sasl_run: subprocess.Popen[bytes]) -> None:
    """The daemon cannot start (kafka-python gives up bootstrapping after 30 s), and says
    so without the password."""
    output, _ = sasl_run.communicate(timeout=90)
    text = output.decode(errors="replace")
    assert sasl_run.returncode == 1, text
    assert "startup_failed" in text and "UnsupportedSaslMechanism" in text
    assert_clean(text, "the daemon's output")
