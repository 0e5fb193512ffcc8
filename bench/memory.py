"""Peak RSS of the pipeline over a long stream: ``python -m bench.memory EVENTS``.

Runs in a fresh process (so nothing else the harness did counts) and feeds driftd's
Pipeline directly, in batches of 5 000 like the consumer, with the benchmark config: every
detector, guardrail and metric, labels for every tenth event. Events come from a pool of
50 000 encoded once, each sent with a new id and its own time (event time goes on
advancing, as in a live stream), so the label join fills to its bound. Every
100 000 events the task's state is checkpointed as the daemon does (snapshot, LZ4, chunks),
so what checkpoints keep counts too. Prints one JSON line: peak RSS (MiB) after each
million events, and the anonymous part of RSS at that moment (the heap, without the pages
of mapped shared libraries, whose resident share follows the page cache: the same code
read about 20 to 40 MiB more RSS in a freshly installed environment, all of it in mapped
files).
"""

from __future__ import annotations

import json
import resource
import sys
import time

from prometheus_client import CollectorRegistry

from bench import data
from monitor.checkpoint import CheckpointStore
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

POOL = 50_000
BATCH = 5_000
CHECKPOINT_EVERY = 100_000  # about the daemon's 5 s checkpoint interval at its rate
ID_AT = slice(9, 18)  # the 9 digits of "e-NNNNNNNNN" right after '{"id":"e-'


def with_id(value: bytes, number: int) -> bytes:
    return value[: ID_AT.start] + b"%09d" % number + value[ID_AT.stop :]


def split_at_ts(value: bytes) -> tuple[bytes, bytes]:
    """The encoded message before and after the number of its ``ts``."""
    start = value.index(b'"ts":') + len(b'"ts":')
    return value[:start], value[value.index(b",", start) :]


def stamped(parts: tuple[bytes, bytes], number: int, delay: float = 0.0) -> bytes:
    head, tail = parts
    ts = data.BASE_TS + number * 0.01 + delay
    return with_id(head, number) + b"%.2f" % ts + tail


def status_mib(field: str) -> float | None:
    """A memory figure of this process from ``/proc/self/status`` (None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_mib() -> float:
    """This process's own peak RSS. Linux carries the parent's peak at the fork into a
    child's ``ru_maxrss``, even across exec, so a harness that had grown before starting
    this process would be measured instead; ``VmHWM`` belongs to this process's memory."""
    peak = status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(total: int) -> None:
    names = {k: k for k in ("features", "predictions", "labels", "alerts", "review", "dead_letter")}
    config = Config.model_validate(data.config("127.0.0.1:9", names, "memory", 0))
    pipeline = Pipeline(config, Metrics(CollectorRegistry()))
    store = CheckpointStore("state", "memory", reader=None)
    pool = [split_at_ts(v) for v in data.events(POOL, drift_from=POOL // 2)]
    label_pool = [split_at_ts(v) for v in data.labels(range(0, POOL, 10))]
    peaks: dict[int, float] = {}
    # The process's own heap now (RSS less the pages of mapped files such as the shared
    # libraries, whose resident share depends on the page cache, not on the stream).
    anonymous: dict[int, float | None] = {}
    started = time.perf_counter()
    label_offset = 0
    for start in range(0, total, BATCH):
        records = [
            FileRecord("features", 0, n, 0, stamped(pool[n % POOL], n))
            for n in range(start, start + BATCH)
        ]
        for n in range(start, start + BATCH, 10):
            value = stamped(label_pool[(n % POOL) // 10], n, delay=1.0)
            records.append(FileRecord("labels", 0, label_offset, 0, value))
            label_offset += 1
        pipeline.process(records)
        done = start + BATCH
        if done % CHECKPOINT_EVERY == 0:
            store.records(0, {"features": done}, pipeline.snapshot(0))
        if done % 1_000_000 == 0:
            peaks[done] = peak_mib()
            anonymous[done] = status_mib("RssAnon")
    seconds = time.perf_counter() - started
    print(json.dumps({"peaks_mib": peaks, "anonymous_mib": anonymous, "seconds": seconds}))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000)
