"""In-process records and decoding helpers shared by the format tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from monitor.config import Config
from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.events import Event, Rejected
from monitor.formats.dispatch import InputDecoder
from monitor.metrics import Metrics
from monitor.replay import FileRecord

NOW = 1_764_300_000.0
RECORD_MS = 1_764_299_000_000

MODEL_YAML = """
models:
  credit-risk:
    features:
      income: {type: numeric, required: true}
      age: {type: numeric}
      region: {type: categorical}
"""


def record(
    topic: str,
    value: bytes | None,
    key: bytes | None = None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> FileRecord:
    """A record on partition 0 at ``RECORD_MS``; ``decode`` and ``native`` number the offsets."""
    return FileRecord(
        topic,
        partition=0,
        offset=0,
        timestamp=RECORD_MS,
        value=value,
        key=key,
        headers=list(headers),
    )


def config(text: str) -> Config:
    return parse_config(text + MODEL_YAML)


def number(records: list[FileRecord]) -> list[FileRecord]:
    for offset, r in enumerate(records):
        r.offset = offset
    return records


def decode(cfg: Config, records: list[FileRecord]) -> tuple[list[Event], list[Rejected], Metrics]:
    metrics = Metrics(CollectorRegistry())
    events, rejected = InputDecoder(cfg, metrics, now=lambda: NOW).decode(number(records))
    return events, rejected, metrics


def native(cfg: Config, records: list[FileRecord]) -> list[Event]:
    events, rejected = Decoder(cfg, now=lambda: NOW).decode(number(records))
    assert rejected == []
    return events


def essence(events: list[Event]) -> list[tuple[Any, ...]]:
    """What an event means, without where it was read."""
    return [(e.model, e.id, e.ts, e.version, e.features, e.prediction, e.label) for e in events]
