"""Pure delivery logic: Retry-After, backoff, rate limit, dedup, offsets, routing, text."""

from __future__ import annotations

import email.utils
import itertools
import random
import threading
import time

import pytest
from kafka import TopicPartition

from monitor.config_alerts import RouteConfig
from monitor.notify import formatting
from monitor.notify.pacing import Backoff, TokenBucket, parse_retry_after
from monitor.notify.routing import Router, parse_alert
from monitor.notify.sinks import pagerduty_dedup_key
from monitor.notify.tracking import DeliveryLedger, OffsetTracker
from tests.notify.helpers import make_alert

TP = TopicPartition("alerts", 0)


def test_retry_after_seconds_and_http_dates() -> None:
    now = 1_764_300_000.0
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after(" 120 ", now) == 120.0
    in_three = email.utils.formatdate(now + 3, usegmt=True)
    assert parse_retry_after(in_three, now) == pytest.approx(3.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now) == 0.0
    assert parse_retry_after("99999999", now) == 86_400.0
    for unreadable in (None, "", "soon", "-1", "1.5", "Mon, 99 Foo 2026 00:00:00"):
        assert parse_retry_after(unreadable, now) is None


def test_backoff_doubles_to_its_cap_with_full_jitter() -> None:
    plain = Backoff(1.0, 60.0, jitter=False)
    assert [plain.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert plain.cap(10_000) == 60.0
    jittered = Backoff(1.0, 60.0, jitter=True, rng=random.Random(7))
    delays = [jittered.delay(4) for _ in range(500)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 7.0
    assert jittered.delay(1, retry_after=2.0) == 2.0


def test_token_bucket_spaces_acquisitions_and_stops_waiting_on_request() -> None:
    bucket = TokenBucket(per_minute=600)  # one every 0.1 s
    stopping = threading.Event()
    started = time.monotonic()
    times = []
    for _ in range(5):
        assert bucket.acquire(stopping)
        times.append(time.monotonic() - started)
    assert times[0] < 0.05
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(times)), times
    slow = TokenBucket(per_minute=1)
    assert slow.acquire(stopping)
    threading.Timer(0.1, stopping.set).start()
    started = time.monotonic()
    assert not slow.acquire(stopping)
    assert time.monotonic() - started < 1.0


class _FakeTime(threading.Event):
    """A clock that a wait advances (never set): the bucket's waits cost no real time."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, timeout: float | None = None) -> bool:
        self.now += timeout or 0.0
        return False


def test_token_bucket_also_waits_an_interval_after_a_slow_attempt_ends() -> None:
    # A receiver counts a request when it arrives, anywhere within the attempt: an attempt
    # slowed in flight must not let the next one reach it sooner than the interval.
    fake = _FakeTime()
    bucket = TokenBucket(per_minute=120, clock=fake.clock)  # one every 0.5 s
    assert bucket.acquire(fake) and fake.now == 0.0
    fake.now = 0.9  # the attempt took 0.9 s
    bucket.finished()
    assert bucket.acquire(fake)
    assert fake.now == 1.4
    bucket.finished()  # a quick one: the start's spacing still holds
    assert bucket.acquire(fake)
    assert fake.now == 1.9


def test_ledger_suppresses_repeats_and_replays_but_not_a_new_incident() -> None:
    ledger = DeliveryLedger(capacity=100)
    assert not ledger.is_repeat("k", "firing", 0, 10)
    ledger.record("k", "firing", 0, 10)
    assert ledger.is_repeat("k", "firing", 0, 11)  # re-emitted by the daemon
    assert not ledger.is_repeat("k", "resolved", 0, 12)
    ledger.record("k", "resolved", 0, 12)
    assert ledger.is_repeat("k", "firing", 0, 10)  # replay of the old firing
    assert not ledger.is_repeat("k", "firing", 0, 40)  # the key fires again later
    assert not ledger.is_repeat("other", "firing", 0, 10)


def test_ledger_is_bounded_least_recently_used_first() -> None:
    ledger = DeliveryLedger(capacity=2)
    ledger.record("a", "firing", 0, 1)
    ledger.record("b", "firing", 0, 2)
    assert ledger.is_repeat("a", "firing", 0, 3)  # touches a
    ledger.record("c", "firing", 0, 4)
    assert len(ledger) == 2
    assert not ledger.is_repeat("b", "firing", 0, 5)
    assert ledger.is_repeat("a", "firing", 0, 6)


def test_commits_never_pass_an_unfinished_alert() -> None:
    tracker = OffsetTracker()
    first = tracker.track(TP, 5, ["pd", "chat"])
    second = tracker.track(TP, 6, ["chat"])
    tracker.track(TP, 7, [])  # routed nowhere
    assert tracker.committable() == {TP: 5}
    tracker.finish(second, "chat")
    assert tracker.committable() == {TP: 5}
    tracker.finish(first, "pd")
    tracker.finish(first, "pd")  # a second report of the same sink changes nothing
    assert tracker.committable() == {TP: 5} and tracker.pending == 1
    tracker.finish(first, "chat")
    assert tracker.committable() == {TP: 8} and tracker.pending == 0
    tracker.committed({TP: 8})
    assert tracker.committable() == {}


def test_forgotten_partitions_ignore_late_finishes() -> None:
    tracker = OffsetTracker()
    pending = tracker.track(TP, 3, ["pd"])
    tracker.forget({TP})
    assert pending.cancelled
    tracker.finish(pending, "pd")
    assert tracker.committable() == {}
    again = tracker.track(TP, 3, ["pd"])
    assert not again.cancelled and tracker.committable() == {TP: 3}


def routes(*specs: dict[str, object]) -> list[RouteConfig]:
    return [RouteConfig.model_validate(spec) for spec in specs]


def test_router_matches_models_kinds_severities_and_names_each_sink_once() -> None:
    router = Router(
        routes(
            {"severities": ["critical"], "sinks": ["pd", "chat"]},
            {"models": ["credit-risk"], "kinds": ["data_drift"], "sinks": ["chat", "hook"]},
            {"models": ["fraud"], "sinks": ["fraud-chat"]},
        ),
        memory=100,
    )
    assert router.sinks_for(make_alert("a", severity="critical")) == ("pd", "chat", "hook")
    assert router.sinks_for(make_alert("b", severity="warning")) == ("chat", "hook")
    dataset = make_alert("c", severity="warning", kind="dataset_drift")
    assert router.sinks_for(dataset) == ()
    assert router.sinks_for(make_alert("d", model="fraud", severity="critical")) == (
        "pd",
        "chat",
        "fraud-chat",
    )


def test_a_resolve_follows_its_firing_whatever_its_severity() -> None:
    router = Router(
        routes({"severities": ["critical"], "sinks": ["pd"]}, {"sinks": ["chat"]}), memory=100
    )
    assert router.sinks_for(make_alert("a", severity="critical")) == ("pd", "chat")
    assert router.sinks_for(make_alert("a", status="resolved", severity="warning")) == (
        "pd",
        "chat",
    )
    assert router.sinks_for(make_alert("b", severity="warning")) == ("chat",)
    assert router.sinks_for(make_alert("b", status="resolved", severity="warning")) == ("chat",)
    # A resolve whose firing is unknown (restart) goes wherever its firing might have gone.
    assert router.sinks_for(make_alert("c", status="resolved", severity="warning")) == (
        "pd",
        "chat",
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "empty message"),
        (b"{oops", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"dedup_key": "k", "model": "m", "kind": "data_drift"}', "status must be"),
        (b'{"dedup_key": "", "model": "m", "kind": "d", "status": "firing"}', "dedup_key"),
        (b'{"dedup_key": "k", "model": "m", "kind": "d", "status": "firing"}', "severity"),
    ],
)
def test_unusable_alerts_are_explained(value: bytes | None, problem: str) -> None:
    alert, reason = parse_alert(value)
    assert alert is None and problem in reason


def test_summaries_read_like_sentences() -> None:
    alert = make_alert()
    assert formatting.summary(alert) == "Data drift on credit-risk/debt_to_income (ks=0.41)"
    resolved = make_alert(status="resolved", statistic=0.03)
    assert formatting.summary(resolved) == (
        "Resolved: data drift on credit-risk/debt_to_income (ks=0.03)"
    )
    dataset = make_alert(kind="dataset_drift", feature=None, test="share", statistic=0.6)
    assert formatting.summary(dataset) == "Dataset drift on credit-risk (60% of features drifted)"
    segment = make_alert(segment="region=eu", kind="concept_drift")
    assert formatting.summary(segment).startswith("Concept drift on credit-risk[region=eu]/")
    assert formatting.event_time(alert) == "2025-11-28T03:24:20Z"
    concept = make_alert(
        feature=None, kind="concept_drift", signal="error", test="page_hinkley", statistic=0.31
    )
    del concept["window"]
    assert formatting.summary(concept) == ("Concept drift on credit-risk/error (page_hinkley=0.31)")
    assert formatting.event_time(concept) is None


def test_slack_text_escapes_control_characters() -> None:
    text = formatting.slack_text(make_alert("a<b>&c"))
    assert "a&lt;b&gt;&amp;c" in text and "<" not in text
    assert "p=2.7e-299 (bh)" in text and "threshold 0.1" in text


def test_webhook_ids_are_stable_per_transition_and_dot_free() -> None:
    firing = make_alert("x.y", index=51)
    same = formatting.webhook_id(firing)
    assert same == formatting.webhook_id(make_alert("x.y", index=51))
    assert same.startswith("msg_") and "." not in same
    assert same != formatting.webhook_id(make_alert("x.y", status="resolved", index=51))
    assert same != formatting.webhook_id(make_alert("x.y", index=90))  # fires again later
    concept = make_alert("c", detected_at={"partition": 0, "offset": 7})
    del concept["window"]
    later = {**concept, "detected_at": {"partition": 0, "offset": 900}}
    assert formatting.webhook_id(concept) != formatting.webhook_id(later)


def test_webhook_signature_matches_the_spec_example() -> None:
    # The example of the Standard Webhooks reference implementations.
    key = formatting.signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = formatting.webhook_signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert formatting.signing_key("plain secret") == b"plain secret"


def test_long_pagerduty_dedup_keys_are_hashed_consistently() -> None:
    short = "driftd/data_drift/m/all/f/ks/tumbling-5000"
    assert pagerduty_dedup_key(short) == short
    long_key = "driftd/" + "x" * 400
    hashed = pagerduty_dedup_key(long_key)
    assert len(hashed) <= 255 and hashed == pagerduty_dedup_key(long_key)
