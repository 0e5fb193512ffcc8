"""The daemon against the real embedded broker, as a real subprocess."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import msgspec
import pytest

from monitor.broker import EmbeddedBroker
from tests.kafkatools import (
    DaemonProcess,
    committed,
    create_topics,
    decode_values,
    produce,
    read_all,
    running_daemon,
    unique,
    write_config,
)

pytestmark = pytest.mark.integration
MODEL = "credit-risk"
BASE_TS = 1_764_300_000.0


def split_messages(
    n: int, features: str, predictions: str, seed: int
) -> list[tuple[str, bytes, bytes]]:
    """Features and predictions of ``n`` events, interleaved and locally out of order."""
    rng = random.Random(seed)
    messages = []
    for i in range(n):
        ts = BASE_TS + i * 0.01
        feat = {
            "id": f"e{i}",
            "model": MODEL,
            "ts": ts,
            "features": {
                "income": rng.lognormvariate(10, 0.5),
                "age": rng.uniform(18, 90),
                "region": rng.choice(["eu", "us", "apac"]),
            },
        }
        pred = {
            "id": f"e{i}",
            "model": MODEL,
            "ts": ts,
            "prediction": {"score": rng.random(), "label": 1},
        }
        messages.append((features, feat))
        messages.append((predictions, pred))
    # Shuffle within blocks of 200 so halves arrive out of order, both ways round.
    shuffled = []
    for start in range(0, len(messages), 200):
        block = messages[start : start + 200]
        rng.shuffle(block)
        shuffled.extend(block)
    key = MODEL.encode()
    return [(topic, key, msgspec.json.encode(body)) for topic, body in shuffled]


def malformed_messages(topic: str) -> list[tuple[str, bytes | None, bytes | None, str]]:
    """One message of every kind the decoder must reject, with the reason it should give."""
    good = {"id": "m", "model": MODEL, "ts": BASE_TS, "features": {"income": 1.0}}

    def enc(**changes: object) -> bytes:
        return msgspec.json.encode({**good, **changes})

    key = MODEL.encode()
    return [
        (topic, key, b'{"id": "x", "model": ', "invalid_json"),
        (topic, key, b'{"id": "\xff\xfe", "model": "credit-risk"}', "invalid_utf8"),
        (topic, key, enc(id=17), "schema"),
        (topic, key, b'{"model": "credit-risk", "features": {"income": 1}}', "schema"),
        (topic, key, b'{"id": "q", "features": {"income": 1}}', "schema"),
        (
            topic,
            key,
            b'{"id": "q", "model": "credit-risk", "features": {"income": NaN}}',
            "non_finite",
        ),
        (
            topic,
            key,
            b'{"id": "q", "model": "credit-risk", "features": {"income": 1e400}}',
            "non_finite",
        ),
        (
            topic,
            key,
            b'{"id": "q", "model": "credit-risk", "features": {"income": Infinity}}',
            "non_finite",
        ),
        (topic, key, enc(model="fraud"), "unknown_model"),
        (topic, key, enc(features={"income": "high"}), "wrong_type"),
        (topic, key, enc(features={"age": 3.0}), "missing_feature"),
        (topic, key, enc(ts="yesterday"), "invalid_timestamp"),
        (topic, key, enc(ts=1.0), "invalid_timestamp"),
        (topic, key, b"x" * 5000, "oversized"),
        (topic, key, b"", "empty"),
    ]


@pytest.fixture
def setup(broker: EmbeddedBroker, tmp_path: Path):
    features, predictions = unique("features"), unique("predictions")
    joined, dead = unique("joined"), unique("dead")
    group = unique("group")
    create_topics(broker.bootstrap, {features: 2, predictions: 2, joined: 1, dead: 1})
    config_path = tmp_path / "driftd.yaml"
    config = write_config(
        config_path,
        broker.bootstrap,
        {
            "topics": {
                "features": features,
                "predictions": predictions,
                "joined": joined,
                "dead_letter": dead,
            },
            "kafka": {"consumer": {"group_id": group, "max_poll_records": 500}},
            "limits": {"max_message_bytes": 4096},
            "checkpoint": {"interval_seconds": 0.5},
        },
    )
    port = config["server"]["port"]
    return {
        "features": features,
        "predictions": predictions,
        "joined": joined,
        "dead": dead,
        "group": group,
        "config": config_path,
        "port": port,
        "log": tmp_path / "daemon.log",
        "bootstrap": broker.bootstrap,
    }


def test_split_events_join_exactly_once_and_malformed_go_to_dead_letters(setup) -> None:
    n = 3000
    messages = split_messages(n, setup["features"], setup["predictions"], seed=1)
    bad = malformed_messages(setup["features"]) * 4  # 60 bad among 6000 good: 1 %
    stream: list[tuple[str, bytes | None, bytes | None]] = list(messages)
    rng = random.Random(2)
    for topic, key, value, _ in bad:
        stream.insert(rng.randrange(len(stream)), (topic, key, value))
    with running_daemon(setup["config"], setup["port"], setup["log"]) as daemon:
        daemon.wait_ready()
        produce(setup["bootstrap"], stream)
        daemon.wait_for(
            lambda: daemon.metric("driftd_events_total", {"join": "complete"}) == n, 60, "joined"
        )
        assert daemon.metric("driftd_events_total", {"join": "incomplete"}) in (None, 0.0)
        assert daemon.metric("driftd_join_pending") == 0
        status, _ = daemon.http("/healthz")
        assert status == 200
        daemon.wait_for(
            lambda: daemon.metric_total("driftd_dead_letters_total") == 60, 10, "dead letters"
        )

    joined = decode_values(read_all(setup["bootstrap"], setup["joined"]))
    ids = [event["id"] for event in joined]
    assert len(ids) == n and set(ids) == {f"e{i}" for i in range(n)}
    assert all(e["features"] is not None and e["prediction"] is not None for e in joined)

    dead = read_all(setup["bootstrap"], setup["dead"])
    letters = decode_values(dead)
    assert len(letters) == len(bad)
    expected = sorted(reason for *_, reason in bad)
    assert sorted(letter["reason"] for letter in letters) == expected
    for record, letter in zip(dead, letters, strict=True):
        source = letter["source"]
        assert source["topic"] == setup["features"]
        assert source["partition"] in (0, 1) and source["offset"] >= 0 and source["timestamp"] > 0
        assert "payload" in letter or "payload_base64" in letter
        assert dict(record.headers)["driftd-reason"] == letter["reason"].encode()
    oversized = [x for x in letters if x["reason"] == "oversized"]
    assert all(x["payload"] == "x" * 5000 for x in oversized)  # nothing of the original is lost


def test_probes_answer_over_http(setup) -> None:
    daemon = DaemonProcess(setup["config"], setup["port"], setup["log"]).start()
    try:
        daemon.wait_for(lambda: daemon.http("/healthz")[0] == 200, 30, "alive")
        daemon.wait_ready()
        status, body = daemon.http("/readyz")
        assert (status, body) == (200, "ready\n")
        status, body = daemon.http("/metrics")
        assert status == 200 and "driftd_build_info" in body and "driftd_ready 1.0" in body
        assert daemon.http("/nope")[0] == 404
        assert daemon.metric("driftd_assigned_partitions") == 4  # 2 features + 2 predictions
    finally:
        daemon.stop()


def test_sigterm_commits_and_restart_reprocesses_nothing(setup) -> None:
    n = 20000
    messages = split_messages(n, setup["features"], setup["predictions"], seed=3)
    produce(setup["bootstrap"], messages)
    first = DaemonProcess(setup["config"], setup["port"], setup["log"]).start()
    first.wait_ready()
    first.wait_for(
        lambda: (first.metric("driftd_events_total", {"join": "complete"}) or 0) > 2000, 60, "busy"
    )
    started = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0
    assert time.monotonic() - started < 10  # within shutdown_timeout_seconds
    done_first = len(read_all(setup["bootstrap"], setup["joined"]))
    assert done_first > 0
    offsets = committed(setup["bootstrap"], setup["group"], setup["features"])
    assert all(o is not None for o in offsets.values())

    with running_daemon(setup["config"], setup["port"], setup["log"]) as second:
        second.wait_ready()
        second.wait_for(
            lambda: len(read_all(setup["bootstrap"], setup["joined"])) >= n, 90, "caught up"
        )
        time.sleep(1.5)
    ids = [e["id"] for e in decode_values(read_all(setup["bootstrap"], setup["joined"]))]
    assert len(ids) == n, f"{len(ids) - len(set(ids))} events processed twice"
    assert set(ids) == {f"e{i}" for i in range(n)}


def test_kill_9_mid_stream_loses_nothing(setup) -> None:
    n = 20000
    produce(setup["bootstrap"], split_messages(n, setup["features"], setup["predictions"], seed=4))
    first = DaemonProcess(setup["config"], setup["port"], setup["log"]).start()
    first.wait_ready()
    first.wait_for(
        lambda: (first.metric("driftd_events_total", {"join": "complete"}) or 0) > 3000, 60, "busy"
    )
    first.kill()
    with running_daemon(setup["config"], setup["port"], setup["log"]) as second:
        second.wait_ready(90)
        second.wait_for(
            lambda: (
                {e["id"] for e in decode_values(read_all(setup["bootstrap"], setup["joined"]))}
                >= {f"e{i}" for i in range(n)}
            ),
            120,
            "caught up",
        )
    ids = [e["id"] for e in decode_values(read_all(setup["bootstrap"], setup["joined"]))]
    assert set(ids) == {f"e{i}" for i in range(n)}  # at least once: nothing lost
