"""Shared pieces of the reliability tests: keyed drift streams, configs, the daemon's
outputs, its final checkpointed state and its JSON log lines."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec
import yaml
from kafka import KafkaConsumer, KafkaProducer
from kafka.partitioner.default import murmur2

from monitor.broker import free_port
from monitor.checkpoint import CheckpointStore
from monitor.demo.traffic import FeatureSpec, MeanShift, NewCategory, TrafficGenerator
from tests.kafkatools import (
    FAST_GROUP,
    DaemonProcess,
    committed,
    decode_values,
    deep_merge,
    read_all,
)

WINDOW = 1000
WARMUP = 5000

FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec.normal("debt_to_income", 0.35, 0.12, weight=1.2, required=True),
    FeatureSpec.uniform("age", 18.0, 75.0, weight=-0.3),
    FeatureSpec.lognormal("income", 10.8, 0.5, weight=-0.9),
    FeatureSpec.categorical("region", {"eu": 0.4, "us": 0.35, "apac": 0.25}),
)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition kafka-python's default partitioner gives ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def models_for_partitions(partitions: int, prefix: str = "model") -> list[str]:
    """One model name per partition: model *i* is keyed into partition *i*."""
    chosen: dict[int, str] = {}
    n = 0
    while len(chosen) < partitions:
        name = f"{prefix}-{n}"
        chosen.setdefault(partition_of(name.encode(), partitions), name)
        n += 1
    return [chosen[p] for p in range(partitions)]


def log_time(entry: dict[str, Any]) -> float:
    """Epoch seconds of a JSON log line's ISO timestamp."""
    from datetime import datetime

    return datetime.fromisoformat(entry["timestamp"]).timestamp()


def drifts(per_model: int) -> list[Any]:
    """A drift from 40 % to 65 % of each model's stream: alerts fire, then resolve."""
    start, end = int(per_model * 0.4), int(per_model * 0.65)
    return [
        MeanShift("debt_to_income", 1.0, start, end),
        NewCategory("region", "latam", 0.3, start, end),
    ]


def keyed_stream(
    models: Sequence[str], per_model: int, seed: int = 7, chunk: int = 500
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` of full events, every model keyed by its name, models interleaved
    in chunks; each model drifts (see :func:`drifts`)."""
    generators = [
        TrafficGenerator(FEATURES, seed + i, model=m, drifts=drifts(per_model))
        for i, m in enumerate(models)
    ]
    out: list[tuple[bytes, bytes]] = []
    for start in range(0, per_model, chunk):
        size = min(chunk, per_model - start)
        for model, generator in zip(models, generators, strict=True):
            for value in generator.encode_events(generator.batch(size)):
                out.append((model.encode(), value))
    return out


def model_section(models: Iterable[str], warmup: int = WARMUP, **extra: Any) -> dict[str, Any]:
    features: dict[str, Any] = {}
    for spec in FEATURES:
        entry: dict[str, Any] = {"type": "numeric" if spec.is_numeric else "categorical"}
        if spec.required:
            entry["required"] = True
        features[spec.name] = entry
    return {
        m: {
            "features": features,
            "windows": [{"type": "tumbling", "size": WINDOW}],
            "reference": {"warmup_events": warmup},
            **extra,
        }
        for m in models
    }


def daemon_config(
    path: Path,
    bootstrap: str,
    models: Sequence[str],
    overrides: dict[str, Any],
    warmup: int = WARMUP,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "kafka": {"bootstrap_servers": bootstrap, "consumer": dict(FAST_GROUP)},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "logging": {"format": "json"},
        "models": model_section(models, warmup),
    }
    deep_merge(config, overrides)
    path.write_text(yaml.safe_dump(config))
    return config


def produce_keyed(
    bootstrap: str, topic: str, messages: Iterable[tuple[bytes, bytes]]
) -> dict[int, int]:
    """Send keyed messages (uncompressed); returns the number written per partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    counts: dict[int, int] = {}
    try:
        futures = [producer.send(topic, key=k, value=v) for k, v in messages]
        producer.flush(120)
        for future in futures:
            meta = future.get(30)
            counts[meta.partition] = counts.get(meta.partition, 0) + 1
    finally:
        producer.close()
    return counts


def caught_up(bootstrap: str, group: str, topic: str, expected: dict[int, int]) -> bool:
    """Whether ``group`` committed the end of every partition of ``topic``."""
    offsets = committed(bootstrap, group, topic)
    return all(offsets.get(p) == n for p, n in expected.items())


def wait_caught_up(
    bootstrap: str,
    group: str,
    topic: str,
    expected: dict[int, int],
    timeout_s: float,
    alive: Sequence[DaemonProcess] = (),
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for daemon in alive:
            assert daemon.process is not None
            if daemon.process.poll() is not None:
                raise AssertionError(f"daemon exited: {daemon.tail()}")
        if caught_up(bootstrap, group, topic, expected):
            return
        time.sleep(1.0)
    raise AssertionError(
        f"{group} not caught up within {timeout_s} s: "
        f"{committed(bootstrap, group, topic)} != {expected}"
    )


def read_alerts(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return decode_values(read_all(bootstrap, topic, timeout_s=60))


def signature(alert: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies an alert: its key, status and the window it was raised on."""
    window = alert.get("window") or {}
    start, end = window.get("start") or {}, window.get("end") or {}
    detected = alert.get("detected_at") or {}
    return (
        alert["dedup_key"],
        alert["status"],
        window.get("index"),
        start.get("partition"),
        start.get("offset"),
        end.get("offset"),
        detected.get("offset"),
    )


def final_states(bootstrap: str, group: str, tasks: Iterable[int]) -> dict[int, Any]:
    """The newest checkpoint of each task of ``group``: offsets and decoded state."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    store = CheckpointStore(f"{group}.state", group, reader)
    try:
        out = {}
        for task in tasks:
            found = store.read(task, timeout_s=30)
            assert found is not None, f"no checkpoint for task {task}"
            out[task] = (found.offsets, msgspec.msgpack.decode(found.state))
        return out
    finally:
        reader.close()


def window_progress(state: dict[str, Any]) -> dict[tuple[str, str, str], tuple[int, list[int]]]:
    """Per (model, reference, segment): the tumbling window's index and the offsets of the
    rows in its open (partial) window, read from a decoded task state."""
    from monitor.arrays import OFFSET, unpack_block

    progress = {}
    for model, model_state in state["models"].items():
        for ref, segment, monitor, _policy in model_state["streams"]:
            window = monitor["windows"][0]
            rows = unpack_block(window["rows"]) if window["rows"] is not None else None
            offsets = rows[OFFSET].tolist() if rows is not None else []
            progress[(model, ref, segment)] = (window["index"], offsets)
    return progress


def metric_sum(daemon: DaemonProcess, name: str, labels: dict[str, str] | None = None) -> float:
    """Sum of a daemon's samples ``name`` whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body = daemon.http("/metrics")
    assert status == 200
    total = 0.0
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and (labels or {}).items() <= sample.labels.items():
                total += sample.value
    return total


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The daemon's JSON log lines (other lines, e.g. a traceback, are skipped)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            item = json.loads(line)
            if isinstance(item, dict):
                out.append(item)
    return out


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, AssertionError):
            if condition():
                return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")
