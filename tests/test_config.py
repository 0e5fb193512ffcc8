"""Config validation: every class of mistake names its key; secrets are never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from monitor.config_loader import load_config, parse_config
from monitor.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "example.yaml"
MINIMAL = """
models:
  m:
    features:
      x: {type: numeric}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="cfg")
    return info.value.problems


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.models["credit-risk"].features["region"].categories
    assert config.kafka.consumer.group_id == "driftd"
    assert config.state_topic == "driftd.state"


def test_minimal_config_takes_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.topics.inputs == ["driftd.features", "driftd.predictions"]
    assert config.server.host == "127.0.0.1"
    assert config.logging.log_feature_values is False


def test_unknown_key_is_named_with_its_line() -> None:
    text = MINIMAL + "servr:\n  port: 1\n"
    assert problems(text) == ["cfg: servr (line 6): unknown key"]
    nested = "kafka:\n  consumer:\n    group: g\n" + MINIMAL
    assert problems(nested) == ["cfg: kafka.consumer.group (line 3): unknown key"]


def test_wrong_type_is_named() -> None:
    found = problems(MINIMAL + "checkpoint: {interval_seconds: soon}\n")
    assert len(found) == 1 and found[0].startswith("cfg: checkpoint.interval_seconds (line 6):")
    assert "number" in found[0]


def test_feature_type_and_model_features_required() -> None:
    found = problems("models:\n  m:\n    features:\n      x: {type: text}\n  n: {}\n")
    assert any(p.startswith("cfg: models.m.features.x.type (line 4)") for p in found)
    assert any(p.startswith("cfg: models.n.features") and "Field required" in p for p in found)
    assert problems("models: {}\n") == [
        "cfg: models (line 1): Dictionary should have at least 1 item after validation, not 0"
    ]


def test_bad_port_and_bootstrap() -> None:
    found = problems(MINIMAL + "server: {port: 70000}\nkafka: {bootstrap_servers: 'nohost'}\n")
    assert any(p.startswith("cfg: server.port (line 6)") for p in found)
    assert any(
        p.startswith("cfg: kafka.bootstrap_servers (line 7)") and "host:port" in p for p in found
    )


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        "kafka:\n  consumer: {max_poll_records: 0}\nserver: {port: -1}\nmodels: {}\nextra: 1\n"
    )
    assert len(found) == 4


def test_duplicate_keys_and_invalid_yaml() -> None:
    assert "duplicate key" in problems(MINIMAL + "server: {}\nserver: {}\n")[0]
    found = problems("models: [unclosed\n")
    assert "invalid YAML" in found[0] and "line" in found[0]


def test_inconsistent_sections() -> None:
    found = problems(MINIMAL + "kafka: {security_protocol: SASL_SSL}\n")
    assert "needs a sasl section" in found[0]
    found = problems(MINIMAL + "topics: {features: a, predictions: a}\n")
    assert "different topics" in found[0]
    found = problems("models:\n  m:\n    features:\n      x: {type: categorical, range: [0, 1]}\n")
    assert "numeric features only" in found[0]


def test_secrets_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PW", "hunter2-env")
    secret_file = tmp_path / "pw"
    secret_file.write_text("hunter2-file\n")
    base = MINIMAL + "kafka:\n  security_protocol: SASL_PLAINTEXT\n  sasl:\n    username: u\n"
    config = parse_config(base + "    password: {env: KAFKA_PW}\n")
    assert config.kafka.sasl is not None and config.kafka.sasl.password is not None
    assert config.kafka.sasl.password.get_secret_value() == "hunter2-env"
    assert "hunter2" not in repr(config) and "hunter2" not in str(config.model_dump())
    config = parse_config(base + f"    password: {{file: {secret_file}}}\n")
    assert config.kafka.sasl.password.get_secret_value() == "hunter2-file"  # type: ignore[union-attr]
    found = problems(base + "    password: {env: NOT_SET_ANYWHERE}\n")
    assert found == [
        "cfg: kafka.sasl.password (line 10): Value error, "
        "environment variable NOT_SET_ANYWHERE is not set"
    ]


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_command(tmp_path: Path) -> None:
    ok = _check_config(EXAMPLE)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    broken = yaml.safe_load(EXAMPLE.read_text())
    broken["models"]["credit-risk"]["features"]["age"]["type"] = "float"
    broken["kafka"]["consumer"]["max_poll_records"] = "many"
    broken["kafka"]["security_protocol"] = "SASL_SSL"
    broken["kafka"]["sasl"] = {"username": "u", "password": "s3cr3t-literal", "bogus": 1}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    bad = _check_config(path)
    assert bad.returncode == 1
    assert "models.credit-risk.features.age.type" in bad.stderr
    assert "kafka.consumer.max_poll_records" in bad.stderr
    assert "kafka.sasl.bogus" in bad.stderr and "unknown key" in bad.stderr
    assert "s3cr3t" not in bad.stderr + bad.stdout
