"""Where the pipeline's time goes, per stage: ``python -m bench.stages [EVENTS]``.

Feeds the benchmark's events (and a label for every tenth) through driftd's Pipeline in
batches of 5 000, in this process and without Kafka, with the collector settled as in the
daemon. Each stage's method is wrapped with a CPU-time counter; after a warm-up of 10 000
events (the warm-up reference), it prints microseconds of CPU per event for each stage.
Stages nest (``monitor.models`` holds ``gate``, ``block``, ``feed`` and ``concept``), so
the figures do not add up to the total. The counters cost a little themselves; the
shares, not the last digit, are the point.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from bench import data
from monitor import concept, decoder, drift, fastlane, gate, heap, join, labels, monitoring
from monitor import pipeline as pipeline_module
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.replay import FileRecord

BATCH = 5_000
WARMUP = 10_000

STAGES: list[tuple[Any, str, str]] = [
    (pipeline_module.Pipeline, "process", "process (everything)"),
    (decoder.Decoder, "decode", "decode"),
    (decoder.Decoder, "_fast_events", "decode: checks and events"),
    (fastlane.ModelLane, "columns", "decode: columns"),
    (join.JoinBuffer, "add", "join"),
    (pipeline_module.Pipeline, "_monitor", "monitor"),
    (monitoring.ModelMonitoring, "add", "monitor.models"),
    (gate.Gate, "apply", "monitor.models: guardrails"),
    (monitoring.ModelMonitoring, "block", "monitor.models: columns for windows"),
    (drift.DriftMonitor, "_test", "monitor.models: window tests"),
    (concept.ConceptMonitor, "add", "monitor.models: ADWIN"),
    (labels.LabelJoin, "add_decisions", "label join: decisions"),
    (pipeline_module.Pipeline, "_labelled", "label join: labels"),
]


def _timed(method: Callable[..., Any], key: str, spent: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return method(*args, **kwargs)
        finally:
            spent[key] += time.process_time() - started

    return wrapper


def main(total: int) -> None:
    names = {k: k for k in ("features", "predictions", "labels", "alerts", "review", "dead_letter")}
    config = Config.model_validate(data.config("127.0.0.1:9", names, "stages", 0))
    spent: dict[str, float] = defaultdict(float)
    for owner, name, key in STAGES:
        setattr(owner, name, _timed(getattr(owner, name), key, spent))
    pipeline = pipeline_module.Pipeline(config, Metrics(CollectorRegistry()), now=lambda: 2e9)
    values = data.events(total, drift_from=total // 2)
    label_values = data.labels(range(0, total, 10))
    heap.settle()
    label_offset = 0
    for start in range(0, total, BATCH):
        if start == WARMUP:
            spent.clear()
        batch = [FileRecord("features", 0, n, 0, values[n]) for n in range(start, start + BATCH)]
        for n in range(start, start + BATCH, 10):
            batch.append(FileRecord("labels", 0, label_offset, 0, label_values[n // 10]))
            label_offset += 1
        pipeline.process(batch)
    measured = total - WARMUP
    print(f"CPU microseconds per event over {measured:,} events (after {WARMUP:,} warm-up):")
    for _, _, key in STAGES:
        print(f"  {key:42s} {spent[key] / measured * 1e6:7.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60_000)
