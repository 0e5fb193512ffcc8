"""Each sink against a real HTTP receiver on loopback: requests, payloads, error classes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from monitor.config_alerts import PagerDutySinkConfig, SlackSinkConfig, WebhookSinkConfig
from monitor.notify import (
    AlertDeliveryError,
    PagerDutySink,
    PermanentDeliveryError,
    SlackSink,
    TransientDeliveryError,
    WebhookSink,
)
from monitor.notify.formatting import signing_key, webhook_signature
from tests.notify.helpers import WEBHOOK_SECRET, make_alert
from tests.notify.receiver import Received, Receiver, Reply

TOKEN = "PATHTOKENSECRET"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def webhook(receiver: Receiver, secret: str = WEBHOOK_SECRET, **extra: object) -> WebhookSink:
    config = WebhookSinkConfig.model_validate(
        {"type": "webhook", "url": receiver.url(f"/hook/{TOKEN}"), "secret": secret, **extra}
    )
    return WebhookSink("hook", config, timeout_seconds=1.0)


def test_pagerduty_trigger_and_resolve(receiver: Receiver) -> None:
    config = PagerDutySinkConfig.model_validate(
        {
            "type": "pagerduty",
            "url": receiver.url("/v2/enqueue"),
            "routing_key": "rk",
            "severity_map": {"warning": "info"},
        }
    )
    sink = PagerDutySink("pd", config, timeout_seconds=2.0)
    warning = make_alert(severity="warning", segment="region=eu")
    try:
        sink.send(warning)
        sink.send(make_alert(status="resolved", severity="warning"))
    finally:
        sink.close()
    trigger, resolve = (r.json() for r in receiver.accepted)
    assert trigger["event_action"] == "trigger"
    assert trigger["routing_key"] == "rk" and trigger["dedup_key"] == warning["dedup_key"]
    payload = trigger["payload"]
    assert payload["severity"] == "info"
    assert payload["summary"] == "Data drift on credit-risk[region=eu]/debt_to_income (ks=0.41)"
    assert (payload["source"], payload["component"]) == ("driftd", "credit-risk")
    assert (payload["group"], payload["class"]) == ("data_drift", "ks")
    assert payload["timestamp"] == "2025-11-28T03:24:20Z"
    details = payload["custom_details"]
    for name in ("statistic", "p_value", "p_value_corrected", "threshold", "n_current"):
        assert details[name] == warning[name]
    assert details["window"] == warning["window"]
    assert details["explanation"] == warning["explanation"]
    assert details["segment"] == "region=eu"
    assert resolve == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": warning["dedup_key"],
    }


def test_slack_message(receiver: Receiver) -> None:
    config = SlackSinkConfig.model_validate({"type": "slack", "url": receiver.url("/T/B/x")})
    sink = SlackSink("chat", config, timeout_seconds=2.0)
    try:
        sink.send(make_alert())
        sink.send(make_alert(status="resolved", severity="warning", statistic=0.02))
    finally:
        sink.close()
    firing, resolved = (r.json() for r in receiver.accepted)
    assert set(firing) == {"text"}
    assert firing["text"].splitlines()[0] == (
        ":rotating_light: *CRITICAL* Data drift on credit-risk/debt_to_income (ks=0.41)"
    )
    assert resolved["text"].splitlines()[0] == (
        ":white_check_mark: *RESOLVED* Data drift on credit-risk/debt_to_income (ks=0.02)"
    )


@pytest.mark.parametrize("secret", [WEBHOOK_SECRET, "a plain shared secret"])
def test_webhook_is_signed_per_standard_webhooks(receiver: Receiver, secret: str) -> None:
    sink = webhook(receiver, secret, headers={"Authorization": "Bearer t0k"})
    alert = make_alert()
    try:
        sink.send(alert)
        sink.send(alert)
    finally:
        sink.close()
    first, second = receiver.accepted
    assert first.headers["content-type"] == "application/json"
    assert first.headers["authorization"] == "Bearer t0k"
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert abs(int(first.headers["webhook-timestamp"]) - time.time()) < 5
    assert first.json() == alert
    key = signing_key(secret)
    expected = webhook_signature(
        key, first.headers["webhook-id"], int(first.headers["webhook-timestamp"]), first.body
    )
    assert first.headers["webhook-signature"] == expected
    other = webhook_signature(
        b"wrong", first.headers["webhook-id"], int(first.headers["webhook-timestamp"]), first.body
    )
    assert first.headers["webhook-signature"] != other


def answer_with(reply: Reply) -> Receiver:
    def script(_index: int, _request: Received) -> Reply:
        return reply

    return Receiver(script).start()


@pytest.mark.parametrize(
    ("reply", "error_class", "status", "retry_after"),
    [
        (Reply(status=500, body=b"boom"), TransientDeliveryError, 500, None),
        (Reply(status=502), TransientDeliveryError, 502, None),
        (Reply(status=429, headers={"Retry-After": "2"}), TransientDeliveryError, 429, 2.0),
        (Reply(status=408), TransientDeliveryError, 408, None),
        (Reply(status=400, body=b'{"message": "bad"}'), PermanentDeliveryError, 400, None),
        (Reply(status=410), PermanentDeliveryError, 410, None),
        (Reply(status=301, headers={"Location": "/x"}), PermanentDeliveryError, 301, None),
        (Reply(delay=1.5), TransientDeliveryError, None, None),
        (Reply(reset=True), TransientDeliveryError, None, None),
    ],
    ids=["500", "502", "429", "408", "400", "410", "301", "timeout", "reset"],
)
def test_failures_are_classified(
    reply: Reply, error_class: type[AlertDeliveryError], status: int | None, retry_after: float
) -> None:
    receiver = answer_with(reply)
    sink = webhook(receiver)
    try:
        with pytest.raises(error_class) as info:
            sink.send(make_alert())
    finally:
        sink.close()
        receiver.stop()
    error = info.value
    assert error.retryable is (error_class is TransientDeliveryError)
    assert error.status == status and error.retry_after == retry_after
    if status is not None:
        assert error.response_body == reply.body.decode()
    assert TOKEN not in str(error) and "127.0.0.1" not in str(error)


def test_a_closed_port_is_transient() -> None:
    receiver = Receiver()  # never started
    sink = webhook(receiver)
    try:
        with pytest.raises(TransientDeliveryError, match="ConnectError") as info:
            sink.send(make_alert())
    finally:
        sink.close()
    assert TOKEN not in str(info.value)
