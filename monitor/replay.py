"""``driftd replay``: the daemon's pipeline over recorded events, written to files.

The same :class:`~monitor.pipeline.Pipeline` the daemon runs processes the records; only
the source (a JSONL/Parquet file, or an offset/time range of Kafka topics read without a
consumer group) and the sink (files instead of topics) differ. Nothing is committed, no
alert is delivered. The output directory receives::

    alerts.jsonl        every alert the daemon would have written (firing and resolved)
    decisions.jsonl     every held decision (review or block); other events were approved
    windows.jsonl       per tested window: each test's statistic and the histograms
    dead_letters.jsonl  rejected records with their reason
    audit.jsonl         audit records (when audit.enabled)
    summary.json        counts, config hash, source, time taken
"""

from __future__ import annotations

import gzip
import itertools
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
from prometheus_client import CollectorRegistry

from monitor import __version__
from monitor.audit import config_hash
from monitor.config import Config
from monitor.errors import DriftdError
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord
from monitor.pipeline import Pipeline

FILES = ("alerts", "decisions", "windows", "dead_letters", "audit")


@dataclass(slots=True)
class FileRecord:
    """A recorded input message, shaped like kafka-python's ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


def records_from_file(path: str | Path, config: Config) -> Iterator[FileRecord]:
    """Records of a JSONL (optionally gzipped) or Parquet file.

    A row is either an envelope ``{"topic", "partition", "offset", "timestamp", "value"}``
    (``value``: the message as an object or as text) or a bare event in the native format,
    which goes to the topic its fields belong to, partition 0, offsets in file order.
    """
    path = Path(path)
    if not path.exists():
        raise DriftdError(f"{path}: no such file")
    rows = _parquet_rows(path) if path.suffix == ".parquet" else _jsonl_rows(path)
    offsets: dict[tuple[str, int], int] = {}
    for row in rows:
        if isinstance(row, bytes):  # a line that is not a JSON object: let the decoder judge
            topic, partition, value, stamp = config.topics.inputs[0], 0, row, None
        elif "value" in row and "topic" in row:
            topic, partition = str(row["topic"]), int(row.get("partition") or 0)
            value = row["value"]
            value = value.encode() if isinstance(value, str) else msgspec.json.encode(value)
            stamp = row.get("timestamp")
        else:
            topic, partition = _topic_of(row, config), 0
            value, stamp = msgspec.json.encode(row), None
        offset = row.get("offset") if isinstance(row, dict) and "value" in row else None
        if offset is None:
            offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = int(offset) + 1
        # Without a timestamp the event must carry its own ts (else: dead letter, as live).
        yield FileRecord(topic, partition, int(offset), int(stamp or 0), value)


def _topic_of(row: dict[str, Any], config: Config) -> str:
    topics = config.topics
    if "label" in row and topics.labels and not row.get("features"):
        return topics.labels
    if row.get("features") is None and row.get("prediction") is not None and topics.predictions:
        return topics.predictions
    return topics.features or topics.inputs[0]


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any] | bytes]:
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        for raw in lines:
            line = raw.strip()
            if not line:
                continue
            try:
                row = msgspec.json.decode(line)
            except msgspec.DecodeError:
                yield line
                continue
            yield row if isinstance(row, dict) else line


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import polars as pl  # noqa: PLC0415 - only for Parquet input

    for frame in pl.read_parquet(path).iter_slices(10_000):
        for row in frame.iter_rows(named=True):
            yield {k: v for k, v in row.items() if v is not None}


def count_rows(path: str | Path) -> int | None:
    path = Path(path)
    if not path.is_file():
        raise DriftdError(f"{path}: no such file")
    if path.suffix == ".parquet":
        import polars as pl  # noqa: PLC0415

        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    if path.suffix == ".gz":
        return None
    with path.open("rb") as lines:
        return sum(1 for line in lines if line.strip())


class ReplayWriter:
    """The sink of a replay: one JSONL file per kind of output."""

    def __init__(self, config: Config, out_dir: Path) -> None:
        self.config = config
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.files: dict[str, IO[bytes]] = {
            name: (out_dir / f"{name}.jsonl").open("wb") for name in FILES
        }
        self.counts: dict[str, int] = dict.fromkeys(FILES, 0)
        topics = config.topics
        self._kinds = {
            topics.alerts: "alerts",
            topics.review: "decisions",
            topics.dead_letter: "dead_letters",
            config.audit.topic: "audit",
        }

    def write(self, outputs: Iterable[OutputRecord]) -> None:
        for output in outputs:
            kind = self._kinds.get(output.topic)
            if kind is not None:
                self._line(kind, output.value)

    def window(self, stats: dict[str, Any]) -> None:
        self._line("windows", msgspec.json.encode(stats))

    def _line(self, kind: str, value: bytes) -> None:
        self.files[kind].write(value + b"\n")
        self.counts[kind] += 1

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def replay(
    config: Config,
    records: Iterable[Any],
    out_dir: str | Path,
    source: str,
    total: int | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Run the pipeline over ``records`` in batches of ``max_poll_records``; write outputs."""
    from rich.progress import Progress  # noqa: PLC0415

    started = time.perf_counter()
    writer = ReplayWriter(config, Path(out_dir))
    pipeline = Pipeline(config, Metrics(CollectorRegistry()))
    pipeline.observer = writer.window
    batch_size = config.kafka.consumer.max_poll_records
    consumed = 0
    iterator = iter(records)
    try:
        with Progress(disable=not show_progress, transient=True) as progress:
            bar = progress.add_task(f"replaying {source}", total=total)
            while batch := list(itertools.islice(iterator, batch_size)):
                writer.write(pipeline.process(batch))
                consumed += len(batch)
                progress.update(bar, advance=len(batch))
    finally:
        writer.close()
    summary = {
        "source": source,
        "records": consumed,
        "config_hash": config_hash(config),
        "outputs": writer.counts,
        "seconds": round(time.perf_counter() - started, 3),
        "driftd_version": __version__,
    }
    (Path(out_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as lines:
        return [msgspec.json.decode(line) for line in lines if line.strip()]
