"""The fuzz batch through the real broker and a daemon subprocess: every record is
consumed, and each is a dead letter, an event, a pending or duplicate half, or a label."""

from __future__ import annotations

import dataclasses
import signal
from collections import Counter
from pathlib import Path

import pytest
import yaml

from monitor.broker import EmbeddedBroker
from monitor.replay import FileRecord
from tests.kafkatools import (
    DaemonProcess,
    create_topics,
    decode_values,
    produce,
    read_all,
    unique,
    write_config,
)
from tests.reliability.fuzz_accounting import (
    FEATURES,
    LABELS,
    MILLIS,
    PREDICTIONS,
    check_letters,
    draw_batch,
    ground_truth,
    model_section,
)
from tests.reliability.fuzz_messages import MODEL, RandomDraw
from tests.reliability.helpers import metric_sum, partition_of, wait_until


@pytest.mark.integration
@pytest.mark.slow
def test_fuzz_batch_through_the_broker(broker: EmbeddedBroker, tmp_path: Path) -> None:
    names = {k: unique(k) for k in ("features", "predictions", "labels", "dead", "alerts")}
    create_topics(
        broker.bootstrap,
        {
            names["features"]: 2,
            names["predictions"]: 2,
            names["labels"]: 2,
            names["dead"]: 1,
            names["alerts"]: 1,
        },
    )
    group = unique("fuzz")
    config = write_config(
        tmp_path / "driftd.yaml",
        broker.bootstrap,
        {
            "topics": {
                "features": names["features"],
                "predictions": names["predictions"],
                "labels": names["labels"],
                "dead_letter": names["dead"],
                "alerts": names["alerts"],
            },
            "kafka": {"consumer": {"group_id": group, "max_poll_records": 200}},
            "limits": {"max_message_bytes": 4096},
            "join": {"ttl_seconds": 1e9},
            "checkpoint": {"interval_seconds": 0.5},
        },
    )
    config["models"] = model_section()
    (tmp_path / "driftd.yaml").write_text(yaml.safe_dump(config))
    d = RandomDraw(2025)
    topic_of = {
        FEATURES: names["features"],
        PREDICTIONS: names["predictions"],
        LABELS: names["labels"],
    }
    batch = draw_batch(d, 2000)
    # One key: every topic's messages land in the same partition number, one task.
    # (A producer refuses messages over its 1 MB request size: those stay in process.)
    messages = [
        (topic_of[t], MODEL.encode(), v) for t, _, v in batch if v is None or len(v) < 500_000
    ]
    daemon = DaemonProcess(tmp_path / "driftd.yaml", config["server"]["port"], tmp_path / "d.log")
    daemon.start()
    try:
        daemon.wait_ready()
        produce(broker.bootstrap, messages)
        per_topic = Counter(t for t, _, _ in messages)
        wait_until(
            lambda: metric_sum(daemon, "driftd_records_consumed_total") == len(messages),
            90,
            "every record consumed",
        )
        assert daemon.http("/healthz")[0] == 200
        consumed = {
            t: metric_sum(daemon, "driftd_records_consumed_total", {"topic": t}) for t in per_topic
        }
        assert consumed == {t: float(n) for t, n in per_topic.items()}
        counts = {
            name: metric_sum(daemon, name, labels)
            for name, labels in [
                ("driftd_dead_letters_total", None),
                ("driftd_events_total", None),
                ("driftd_join_pending", None),
                ("driftd_join_duplicates_total", None),
                ("driftd_labels_total", None),
            ]
        }
        internal = metric_sum(daemon, "driftd_dead_letters_total", {"reason": "internal_error"})
        assert internal == 0, "a pipeline error dead-lettered a whole batch"
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(20) == 0
    finally:
        daemon.stop()
    dead = decode_values(read_all(broker.bootstrap, names["dead"]))
    check_letters(dead)
    assert len(dead) == counts["driftd_dead_letters_total"]
    at_decode = {
        (x["source"]["topic"], x["source"]["partition"], x["source"]["offset"]) for x in dead
    }
    assert len(at_decode) == len(dead)
    # The same accounting as in process, from the daemon's own counters: every record is
    # a dead letter, a (full or joined) event, a pending or duplicate half, or a label.
    records = []
    offsets: Counter[str] = Counter()
    partition = partition_of(MODEL.encode(), 2)
    for topic, _, val in messages:
        records.append(FileRecord(topic, partition, offsets[topic], MILLIS, val))
        offsets[topic] += 1
    full, labels, halves = ground_truth(
        [
            dataclasses.replace(r, topic=LABELS if r.topic == names["labels"] else r.topic)
            for r in records
        ],
        {(LABELS if t == names["labels"] else t, p, o) for t, p, o in at_decode},
    )
    complete = counts["driftd_events_total"]  # nothing expires with this TTL
    pairs = complete - full
    assert labels == counts["driftd_labels_total"]
    assert (
        halves == 2 * pairs + counts["driftd_join_pending"] + counts["driftd_join_duplicates_total"]
    )
    assert len(dead) + full + halves + labels == len(messages)
    assert full > 0 and pairs > 0 and len(dead) > 0
    text = (tmp_path / "d.log").read_text()
    assert "pipeline_error" not in text and "Traceback" not in text
