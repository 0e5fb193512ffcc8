"""The ``alerts:`` section: defaults, secrets, and errors that name their key or route."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config_loader import parse_config
from monitor.errors import ConfigError
from monitor.metrics import Metrics
from monitor.notify import Notifier

MODELS = "models:\n  credit-risk:\n    features:\n      x: {type: numeric}\n"
EXAMPLE = """
alerts:
  sinks:
    oncall:
      type: pagerduty
      routing_key: {env: PD_ROUTING_KEY}
      severity_map: {warning: info}
    team-chat:
      type: slack
      url: {file: SLACK_FILE}
    audit:
      type: webhook
      url: https://hooks.example.com/driftd
      secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwIs3jh9SaFPc=
      headers: {Authorization: {env: HOOK_TOKEN}}
      rate_limit_per_minute: 30
  routes:
    - {severities: [critical], sinks: [oncall, team-chat]}
    - {models: [credit-risk], kinds: [data_drift, dataset_drift], sinks: [team-chat, audit]}
  delivery:
    timeout_seconds: 5
    max_retry_seconds: 3600
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(MODELS + text, source="cfg")
    return info.value.problems


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PD_ROUTING_KEY", "pd-routing-key-value")
    monkeypatch.setenv("HOOK_TOKEN", "Bearer hook-token-value")
    slack = tmp_path / "slack-url"
    slack.write_text("https://hooks.slack.com/services/T0/B0/slack-token-value\n")
    return slack


def test_example_parses_with_secrets_and_defaults(secrets: Path) -> None:
    config = parse_config(MODELS + EXAMPLE.replace("SLACK_FILE", str(secrets)))
    alerts = config.alerts
    oncall = alerts.sinks["oncall"]
    assert oncall.type == "pagerduty"
    assert oncall.routing_key.get_secret_value() == "pd-routing-key-value"
    assert oncall.url == "https://events.pagerduty.com/v2/enqueue"
    assert oncall.severity_map == {"warning": "info", "critical": "critical"}
    assert oncall.rate_limit_per_minute == 120
    chat = alerts.sinks["team-chat"]
    assert chat.type == "slack"
    assert chat.url.get_secret_value().endswith("/slack-token-value")
    audit = alerts.sinks["audit"]
    assert audit.type == "webhook"
    assert audit.headers["Authorization"].get_secret_value() == "Bearer hook-token-value"
    assert alerts.routes[0].models == "*"
    assert alerts.routes[1].severities == ["warning", "critical"]
    delivery = alerts.delivery
    assert (delivery.timeout_seconds, delivery.max_attempts) == (5, None)
    assert (delivery.backoff_initial_seconds, delivery.backoff_max_seconds) == (1, 60)
    assert "pd-routing-key-value" not in repr(config)
    assert "slack-token-value" not in repr(config)


def test_notifier_defaults_derive_from_the_kafka_group_and_topics(secrets: Path) -> None:
    config = parse_config(MODELS + EXAMPLE.replace("SLACK_FILE", str(secrets)))
    notifier = Notifier(config, Metrics())
    try:
        assert notifier.group == "driftd-notifier"
        assert notifier.dead_letter_topic == "driftd.dead-letter"
        assert notifier.topic == "driftd.alerts"
    finally:
        for sink in notifier.sinks.values():
            sink.close()


def test_no_alerts_section_means_no_notifier() -> None:
    assert not parse_config(MODELS).alerts.enabled


def test_unknown_sink_in_a_route_names_the_route() -> None:
    text = """
alerts:
  sinks:
    pd: {type: pagerduty, routing_key: k}
  routes:
    - {sinks: [pd]}
    - {severities: [critical], sinks: [pd, pagerdty]}
"""
    (found,) = problems(text)
    assert found.startswith("cfg: alerts (line 6):")
    assert "routes[1].sinks: unknown sink 'pagerdty' (configured: pd)" in found


def test_a_sink_no_route_uses_is_an_error() -> None:
    text = """
alerts:
  sinks:
    pd: {type: pagerduty, routing_key: k}
    spare: {type: slack, url: 'https://hooks.slack.com/services/x'}
  routes:
    - {sinks: [pd]}
"""
    (found,) = problems(text)
    assert "sinks.spare: not used by any route" in found


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        ("{type: pagerduty}", "alerts.sinks.s.pagerduty.routing_key (line 9): Field required"),
        ("{type: email, to: x}", "alerts.sinks.s (line 9): Input tag 'email'"),
        ("{url: 'https://x'}", "alerts.sinks.s (line 9): Unable to extract tag"),
        (
            "{type: slack, url: 'https://x', rate_limit: 1}",
            "alerts.sinks.s.slack.rate_limit (line 9): unknown key",
        ),
        (
            "{type: slack, url: 'https://x', rate_limit_per_minute: 0}",
            "alerts.sinks.s.slack.rate_limit_per_minute (line 9): Input should be greater",
        ),
        (
            "{type: pagerduty, routing_key: k, severity_map: {critical: sev1}}",
            "alerts.sinks.s.pagerduty.severity_map.critical (line 9): Input should be",
        ),
        (
            "{type: webhook, url: 'https://x', secret: whsec_c2hvcnQ=}",
            "alerts.sinks.s.webhook.secret (line 9): Value error, a whsec_ secret must decode",
        ),
        (
            "{type: webhook, url: 'https://x', secret: s, headers: {webhook-id: x}}",
            "alerts.sinks.s.webhook.headers (line 9): Value error, header 'webhook-id' is set",
        ),
        (
            "{type: webhook, url: 'https://x', secret: {env: DRIFTD_UNSET_SECRET}}",
            "environment variable DRIFTD_UNSET_SECRET is not set",
        ),
    ],
)
def test_sink_errors_name_their_key(sink: str, expected: str) -> None:
    text = f"\nalerts:\n  routes: [{{sinks: [s]}}]\n  sinks:\n    s: {sink}\n"
    found = problems(text)
    assert any(expected in p for p in found), found


def test_route_and_delivery_errors_name_their_key() -> None:
    text = """
alerts:
  sinks: {pd: {type: pagerduty, routing_key: k}}
  routes:
    - {severities: [page], sinks: [pd]}
    - {sinks: []}
  delivery: {backoff_initial_seconds: 90, consumer_grup: x}
"""
    found = problems(text)
    assert any(p.startswith("cfg: alerts.routes[0].severities[0] (line 9):") for p in found)
    assert any(p.startswith("cfg: alerts.routes[1].sinks (line 10):") for p in found)
    assert any(p.startswith("cfg: alerts.delivery.consumer_grup (line 11): unknown") for p in found)


def test_secrets_are_never_printed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "driftd.yaml"
    path.write_text(
        MODELS
        + """
alerts:
  sinks:
    chat: {type: slack, url: 'ftp://hooks.example.com/T0/B0/SLACKSECRET'}
    pd: {type: pagerduty, routing_key: PDSECRET, url: 'not a url'}
    hook: {type: webhook, url: 'https://x/?token=HOOKSECRET', secret: whsec_NOTBASE64SECRET!}
  routes: [{sinks: [chat, pd, hook]}]
"""
    )
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "alerts.sinks.chat.slack.url" in err and "must be an http:// or https:// URL" in err
    assert "alerts.sinks.pd.pagerduty.url" in err
    assert "alerts.sinks.hook.webhook.secret" in err
    for secret in ("SLACKSECRET", "PDSECRET", "HOOKSECRET", "NOTBASE64SECRET"):
        assert secret not in err


def test_notify_without_sinks_exits_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "driftd.yaml"
    path.write_text(MODELS + "logging: {format: json}\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "notify", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "no_alert_sinks" in done.stderr
