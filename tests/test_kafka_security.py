"""Kafka security settings reach kafka-python under its own option names, with secrets read
from the environment or from files. (TLS is also exercised end to end against a real broker
behind a TLS proxy: tests/reliability/test_tls.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from monitor.config import KafkaConfig
from monitor.kafka_io import client_options, consumer_options, producer_options

PASSWORD = "pw-from-somewhere-7f3a"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("source", ["env", "file", "literal"])
def test_sasl_user_password(
    mechanism: str, source: str, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PW", PASSWORD)
    password: Any = {
        "env": {"env": "KAFKA_PW"},
        "file": {"file": str(secret_file)},
        "literal": PASSWORD,
    }[source]
    cfg = KafkaConfig.model_validate(
        {
            "bootstrap_servers": ["kafka-1:9093"],
            "security_protocol": "SASL_SSL",
            "sasl": {"mechanism": mechanism, "username": "driftd", "password": password},
        }
    )
    options = client_options(cfg)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "driftd"
    assert options["sasl_plain_password"] == PASSWORD
    assert PASSWORD not in repr(cfg) and PASSWORD not in str(cfg.model_dump())


def test_oauthbearer_token_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOKEN", "tok-123")
    cfg = KafkaConfig.model_validate(
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl": {"mechanism": "OAUTHBEARER", "oauth_token": {"env": "KAFKA_TOKEN"}},
        }
    )
    options = client_options(cfg)
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert options["sasl_oauth_token_provider"].token() == "tok-123"


def test_tls_files_and_host_name_check(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = KafkaConfig.model_validate(
        {
            "security_protocol": "SSL",
            "tls": {
                "ca_file": str(tmp_path / "ca.pem"),
                "cert_file": str(tmp_path / "cert.pem"),
                "key_file": str(tmp_path / "key.pem"),
                "key_password": "kp",
                "check_hostname": False,
            },
        }
    )
    options = client_options(cfg)
    assert options["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert options["ssl_certfile"] == str(tmp_path / "cert.pem")
    assert options["ssl_keyfile"] == str(tmp_path / "key.pem")
    assert options["ssl_password"] == "kp"
    assert options["ssl_check_hostname"] is False


def test_every_option_is_one_kafka_python_knows(tmp_path: Path) -> None:
    """kafka-python rejects unknown options only when a client is built, i.e. at startup
    against a real cluster: check the names against its documented defaults here."""
    (tmp_path / "ca.pem").write_text("x")
    cfg = KafkaConfig.model_validate(
        {
            "security_protocol": "SASL_SSL",
            "tls": {"ca_file": str(tmp_path / "ca.pem")},
            "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"},
        }
    )
    assert set(client_options(cfg)) <= set(KafkaAdminClient.DEFAULT_CONFIG)
    assert set(consumer_options(cfg)) <= set(KafkaConsumer.DEFAULT_CONFIG)
    assert set(producer_options(cfg)) <= set(KafkaProducer.DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "needs a sasl section"),
        (
            {"security_protocol": "SASL_SSL", "sasl": {"mechanism": "SCRAM-SHA-256"}},
            "needs username and password",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl": {"mechanism": "GSSAPI"}},
            "mechanism",
        ),
        ({"security_protocol": "SSL", "tls": {"ca_file": "/nonexistent/ca.pem"}}, "not exist"),
        (
            {"sasl": {"username": "u", "password": {"env": "DRIFTD_UNSET_VARIABLE"}}},
            "DRIFTD_UNSET_VARIABLE",
        ),
    ],
)
def test_bad_security_settings_are_named(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KafkaConfig.model_validate(section)
