"""The notifier against the real embedded broker and real HTTP receivers on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import msgspec
import pytest
from prometheus_client import generate_latest

from monitor.broker import EmbeddedBroker
from monitor.config import Config
from monitor.metrics import Metrics
from tests.kafkatools import committed, decode_values, produce, read_all
from tests.notify.helpers import (
    WEBHOOK_SECRET,
    key_status,
    make_alert,
    notifier_settings,
    produce_alerts,
    running_notifier,
    sample,
)
from tests.notify.receiver import Received, Receiver, Reply

pytestmark = pytest.mark.integration
ROUTING_KEY = "R0UT1NGKEYSECRET0000000000000000"
SLACK_TOKEN = "SLACKTOKENSECRET"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def webhook_sink(receiver: Receiver, **extra: object) -> dict[str, object]:
    return {"type": "webhook", "url": receiver.url("/hook"), "secret": WEBHOOK_SECRET, **extra}


def verify_standard_webhook(request: Received, secret: str) -> bool:
    """Independent check of the Standard Webhooks signature, as a receiver would do it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.removeprefix("v1,") for s in request.headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in offered)


def test_routes_deliver_pagerduty_slack_and_signed_webhook(
    broker: EmbeddedBroker, receiver: Receiver
) -> None:
    sinks = {
        "pd": {"type": "pagerduty", "url": receiver.url("/pd"), "routing_key": ROUTING_KEY},
        "chat": {"type": "slack", "url": receiver.url(f"/services/T0/B0/{SLACK_TOKEN}")},
        "hook": webhook_sink(receiver),
    }
    routes: list[dict[str, Any]] = [
        {"severities": ["critical"], "sinks": ["pd"]},
        {"models": "*", "sinks": ["chat"]},
        {"models": ["credit-risk"], "kinds": ["data_drift"], "sinks": ["hook", "chat"]},
    ]
    config = Config.model_validate(notifier_settings(broker.bootstrap, sinks, routes))
    critical = make_alert("debt_to_income", severity="critical")
    warning = make_alert("age", severity="warning", statistic=0.12)
    # A resolve carries the severity of the clean window that ended the incident.
    resolved = make_alert("debt_to_income", status="resolved", severity="warning", index=55)
    alerts = [critical, warning, resolved]
    metrics = Metrics()
    with running_notifier(config, metrics):
        produce_alerts(config, alerts)
        receiver.wait_accepted(2 + 3 + 3)
        time.sleep(0.8)  # anything extra would arrive now
        by_path = Counter(r.path.split("/")[1] for r in receiver.accepted)
        assert by_path == {"pd": 2, "services": 3, "hook": 3}

        pd = [r.json() for r in receiver.accepted if r.path == "/pd"]
        assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
        assert {e["dedup_key"] for e in pd} == {critical["dedup_key"]}
        assert all(e["routing_key"] == ROUTING_KEY for e in pd)
        payload = pd[0]["payload"]
        assert payload["summary"] == "Data drift on credit-risk/debt_to_income (ks=0.41)"
        assert payload["source"] == "driftd"
        assert payload["severity"] == "critical"
        assert payload["component"] == "credit-risk"
        details = payload["custom_details"]
        assert details["statistic"] == 0.41 and details["p_value_corrected"] == 2.7e-299
        assert details["window"] == critical["window"]
        assert details["explanation"] == critical["explanation"]

        slack = [r.json()["text"] for r in receiver.accepted if r.path.startswith("/services")]
        assert slack[0].startswith(":rotating_light: *CRITICAL* Data drift on credit-risk/")
        assert "(ks=0.41)" in slack[0] and "window tumbling-5000 #51" in slack[0]
        assert slack[1].startswith(":rotating_light: *WARNING* Data drift on credit-risk/age")
        assert slack[2].startswith(":white_check_mark: *RESOLVED* Data drift on credit-risk/")

        hooks = [r for r in receiver.accepted if r.path == "/hook"]
        assert [msgspec.json.decode(r.body) for r in hooks] == alerts
        assert all(verify_standard_webhook(r, WEBHOOK_SECRET) for r in hooks)
        assert len({r.headers["webhook-id"] for r in hooks}) == 3

        receiver.wait_for(
            lambda: (
                committed(broker.bootstrap, notifier_group(config), config.topics.alerts) == {0: 3}
            ),
            10,
            "offsets committed",
        )
    assert sample(metrics, "driftd_alert_deliveries_total", {"sink": "pd", "outcome": "delivered"})
    exposition = generate_latest(metrics.registry).decode()
    assert ROUTING_KEY not in exposition and SLACK_TOKEN not in exposition


def notifier_group(config: Config) -> str:
    return config.alerts.delivery.consumer_group or f"{config.kafka.consumer.group_id}-notifier"


def test_signature_with_a_wrong_secret_does_not_verify(
    broker: EmbeddedBroker, receiver: Receiver
) -> None:
    config = Config.model_validate(
        notifier_settings(broker.bootstrap, {"hook": webhook_sink(receiver)})
    )
    with running_notifier(config):
        produce_alerts(config, [make_alert()])
        (request,) = receiver.wait_accepted(1)
    assert verify_standard_webhook(request, WEBHOOK_SECRET)
    wrong = "whsec_" + base64.b64encode(b"another secret of 32 bytes......").decode()
    assert not verify_standard_webhook(request, wrong)


@pytest.mark.parametrize(
    "outage_s", [8.0, pytest.param(60.0, marks=pytest.mark.slow, id="60s-outage")]
)
def test_receiver_outage_delivers_each_transition_exactly_once(
    broker: EmbeddedBroker, outage_s: float
) -> None:
    receiver = Receiver()  # port reserved, nothing listening yet: connections are refused
    settings = notifier_settings(
        broker.bootstrap,
        {"hook": webhook_sink(receiver)},
        delivery={"backoff_max_seconds": 2.0},
        partitions=2,
    )
    config = Config.model_validate(settings)
    firing = [make_alert(f"f{i}", index=10 + i) for i in range(6)]
    resolved = [make_alert(f"f{i}", status="resolved", index=20 + i) for i in range(3)]
    # The daemon re-emits an alert after a crash between writing it and its checkpoint.
    repeats = [firing[0], firing[4], resolved[1]]
    metrics = Metrics()
    with running_notifier(config, metrics):
        produce_alerts(config, firing + repeats[:2] + resolved + repeats[2:])
        time.sleep(outage_s)
        # The outage must have been met (a loaded machine can take longer to join the group).
        retried = {"sink": "hook", "outcome": "retried"}
        deadline = time.monotonic() + 60
        while not sample(metrics, "driftd_alert_deliveries_total", retried):
            assert time.monotonic() < deadline, "no delivery attempt during the outage"
            time.sleep(0.2)
        assert not receiver.requests
        receiver.start()
        try:
            accepted = receiver.wait_accepted(9, timeout_s=30)
            time.sleep(1.5)  # a duplicate would arrive now
            accepted = receiver.accepted
        finally:
            receiver.stop()
    delivered = Counter(key_status(r.json()) for r in accepted)
    assert delivered == Counter({key_status(a): 1 for a in firing + resolved})
    assert sample(metrics, "driftd_alert_deliveries_total", {"sink": "hook", "outcome": "retried"})
    assert (
        sample(metrics, "driftd_alert_deliveries_total", {"sink": "hook", "outcome": "duplicate"})
        == 3
    )


def scripted(*replies: Reply) -> Receiver:
    """Answers with ``replies`` in turn, then 200 for ever."""

    def script(index: int, _request: Received) -> Reply:
        return replies[index] if index < len(replies) else Reply()

    return Receiver(script).start()


def retried_successfully(receiver: Receiver) -> bool:
    return len(receiver.requests) >= 2 and receiver.requests[1].answered == 200


FIRST_FAILURES = {
    "error500": Reply(status=500, body=b"oops"),
    "error503": Reply(status=503, headers={"Retry-After": "0"}),
    "throttled": Reply(status=429, headers={"Retry-After": "2"}),
    "timeout": Reply(delay=1.5),  # longer than timeout_seconds
    "reset": Reply(reset=True),
}


def test_transient_failures_are_retried_per_sink(broker: EmbeddedBroker) -> None:
    """One alert, five sinks, each failing differently once: every sink retries its own
    failure (the same signed message again) and none holds back another."""
    receivers = {name: scripted(reply) for name, reply in FIRST_FAILURES.items()}
    sinks = {name: webhook_sink(receiver) for name, receiver in receivers.items()}
    settings = notifier_settings(broker.bootstrap, sinks, delivery={"timeout_seconds": 0.5})
    config = Config.model_validate(settings)
    metrics = Metrics()
    try:
        with running_notifier(config, metrics):
            produce_alerts(config, [make_alert()])
            for name, receiver in receivers.items():
                receiver.wait_for(
                    partial(retried_successfully, receiver),
                    15,
                    f"{name}: a successful second attempt",
                )
            time.sleep(0.5)
    finally:
        for receiver in receivers.values():
            receiver.stop()
    for name, receiver in receivers.items():
        first, second = receiver.requests
        assert first.headers["webhook-id"] == second.headers["webhook-id"], name
        assert first.body == second.body, name
        labels = {"sink": name, "outcome": "retried"}
        assert sample(metrics, "driftd_alert_deliveries_total", labels) == 1, name
    # Retry-After: 2 is honoured (the backoff alone would retry within 0.2 s).
    throttled = receivers["throttled"].requests
    assert 2.0 <= throttled[1].at - throttled[0].at < 3.0
    # The others were retried long before the throttled sink's wait was over.
    assert receivers["error500"].requests[1].at < throttled[1].at - 1.0


def test_rejected_alert_is_dead_lettered_and_later_ones_delivered(broker: EmbeddedBroker) -> None:
    bad = make_alert("rejected_feature")

    def script(_index: int, request: Received) -> Reply:
        if request.json()["feature"] == bad["feature"]:
            return Reply(status=400, body=b'{"error": "unknown field"}' + b"x" * 5000)
        return Reply()

    receiver = Receiver(script).start()
    config = Config.model_validate(
        notifier_settings(broker.bootstrap, {"hook": webhook_sink(receiver)})
    )
    later = [make_alert(f"later{i}") for i in range(3)]
    metrics = Metrics()
    try:
        with running_notifier(config, metrics):
            produce_alerts(config, [bad, *later])
            produce(broker.bootstrap, [(config.topics.alerts, b"k", b"{not json")])
            receiver.wait_accepted(3)
            receiver.wait_for(
                lambda: len(read_all(broker.bootstrap, config.topics.dead_letter)) >= 2,
                15,
                "two dead letters",
            )
            receiver.wait_for(
                lambda: (
                    committed(broker.bootstrap, notifier_group(config), config.topics.alerts)
                    == {0: 5}
                ),
                10,
                "offsets committed past the rejected alert",
            )
    finally:
        receiver.stop()
    assert len([r for r in receiver.requests if r.json()["feature"] == bad["feature"]]) == 1
    assert [r.json()["feature"] for r in receiver.accepted] == [a["feature"] for a in later]
    records = read_all(broker.bootstrap, config.topics.dead_letter)
    # The two go through different threads: their order on the topic is not fixed.
    records.sort(key=lambda r: msgspec.json.decode(r.value)["reason"])
    rejected, invalid = decode_values(records)
    assert rejected["reason"] == "delivery_rejected"
    assert rejected["sink"] == "hook" and rejected["sink_type"] == "webhook"
    assert rejected["status"] == 400 and rejected["attempts"] == 1
    assert rejected["response"].startswith('{"error": "unknown field"}')
    assert len(rejected["response"]) == 2000
    assert rejected["alert"] == bad
    assert rejected["source"]["offset"] == 0
    assert records[0].key == bad["dedup_key"].encode()
    assert invalid["reason"] == "invalid_alert" and invalid["payload"] == "{not json"
    assert (
        sample(metrics, "driftd_alert_deliveries_total", {"sink": "hook", "outcome": "rejected"})
        == 1
    )


def test_rate_limit_delays_without_dropping(broker: EmbeddedBroker, receiver: Receiver) -> None:
    config = Config.model_validate(
        notifier_settings(
            broker.bootstrap, {"hook": webhook_sink(receiver, rate_limit_per_minute=120)}
        )
    )
    alerts = [make_alert(f"f{i}") for i in range(10)]
    with running_notifier(config):
        produce_alerts(config, alerts)
        accepted = receiver.wait_accepted(10, timeout_s=20)
    gaps = [b.at - a.at for a, b in itertools.pairwise(accepted)]
    assert min(gaps) >= 0.45, gaps  # 120 per minute: one every 0.5 s
    assert accepted[-1].at - accepted[0].at >= 4.4
    assert [r.json()["feature"] for r in accepted] == [a["feature"] for a in alerts]


def test_stop_mid_retry_commits_nothing_undelivered_and_reading_is_bounded(
    broker: EmbeddedBroker,
) -> None:
    receiver = Receiver()  # down: every attempt is refused
    settings = notifier_settings(
        broker.bootstrap, {"hook": webhook_sink(receiver)}, delivery={"max_in_flight": 2}
    )
    config = Config.model_validate(settings)
    alerts = [make_alert(f"f{i}") for i in range(6)]
    group = notifier_group(config)
    first_metrics = Metrics()
    retried = {"sink": "hook", "outcome": "retried"}
    with running_notifier(config, first_metrics):
        produce_alerts(config, alerts)
        receiver.wait_for(
            lambda: sample(first_metrics, "driftd_alert_deliveries_total", retried) >= 2,
            20,
            "retries under way",
        )
        assert sample(first_metrics, "driftd_alert_delivery_pending", {}) == 2  # paused
        stop_requested = time.monotonic()
    assert time.monotonic() - stop_requested < 3.0  # a retry wait does not hold up a stop
    assert committed(broker.bootstrap, group, config.topics.alerts) in ({0: None}, {0: 0})

    receiver.start()
    metrics = Metrics()
    most_pending = 0.0

    def all_delivered() -> bool:
        nonlocal most_pending
        pending = sample(metrics, "driftd_alert_delivery_pending", {})
        most_pending = max(most_pending, pending)
        return len(receiver.accepted) >= len(alerts)

    try:
        with running_notifier(config, metrics):
            receiver.wait_for(all_delivered, 20, "every alert delivered after the restart")
    finally:
        receiver.stop()
    assert [r.json()["feature"] for r in receiver.accepted] == [a["feature"] for a in alerts]
    assert most_pending <= 3  # max_in_flight, plus at most one poll of max_in_flight - 1
