"""Stages read a decoded batch's envelope from its columns only when handed that batch.

``monitor.event_columns`` returns the decoder's columns for exactly the list of events it
built, and reads any other list event by event; both must give the events' own values.
The decoder's link from columns to events is a reference cycle the collector cannot see,
so it must be released when the batch is done.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from monitor import event_columns
from monitor.config_loader import parse_config
from monitor.decoder import Decoder
from monitor.events import Event
from monitor.fastlane import fast_rows
from monitor.join import JoinBuffer
from monitor.metrics import Metrics
from monitor.pipeline import Pipeline
from monitor.replay import FileRecord

CONFIG = parse_config(
    """
topics: {labels: labels}
models:
  m:
    features:
      x: {type: numeric}
      c: {type: categorical}
"""
)
NOW = 1_764_300_000.0


def records(count: int, partition: int = 3) -> list[FileRecord]:
    out = []
    for i in range(count):
        body = {
            "id": f"e{i}",
            "model": "m",
            "version": str(i % 3) if i % 4 else None,
            "ts": NOW + i * 0.5,
            "features": {"x": float(i), "c": "eu"},
            "prediction": {"score": 0.5},
        }
        value = msgspec.json.encode(body)
        out.append(FileRecord("driftd.features", partition, 100 + i, 0, value))
    return out


def expected(events: list[Event]) -> dict[str, list[object]]:
    return {
        "stamps": [e.ts for e in events],
        "partitions": [e.partition for e in events],
        "offsets": [e.offset for e in events],
        "versions": [e.version for e in events],
        "keys": [(e.model, e.id) for e in events],
    }


def read(events: list[Event]) -> dict[str, list[object]]:
    return {
        "stamps": event_columns.stamps(events).tolist(),
        "partitions": event_columns.partitions(events).tolist(),
        "offsets": event_columns.offsets(events).tolist(),
        "versions": list(event_columns.versions(events)),
        "keys": event_columns.keys(events),
    }


@pytest.fixture
def decoded() -> list[Event]:
    events, rejected = Decoder(CONFIG, now=lambda: NOW + 3600).decode(records(12))
    assert not rejected and all(e.columns is not None for e in events)
    return events


def test_the_decoded_list_is_read_from_its_columns(decoded: list[Event]) -> None:
    batch = event_columns.decoded_batch(decoded)
    assert batch is not None and batch is decoded[0].columns
    assert read(decoded) == expected(decoded)
    assert fast_rows(decoded) == (batch, slice(None))


@pytest.mark.parametrize(
    "pick",
    [
        lambda events: events[::-1],
        lambda events: events[2:9],
        lambda events: [e for i, e in enumerate(events) if i % 3],
        lambda events: [*events[:5], events[5], events[5], *events[7:]],
        list,  # a copy, element for element: the same batch
    ],
    ids=["reversed", "slice", "filtered", "repeated", "copy"],
)
def test_any_other_list_of_its_events_gives_the_events_own_values(
    decoded: list[Event], pick: object
) -> None:
    events = pick(decoded)  # type: ignore[operator]
    assert read(events) == expected(events)
    fast = fast_rows(events)
    assert fast is not None
    columns, rows = fast
    assert columns.score[rows].tolist() == [e.prediction["score"] for e in events]


def test_a_batch_with_a_rejected_row_is_read_event_by_event() -> None:
    batch = records(6)
    value = batch[2].value
    assert value is not None
    bad = msgspec.json.decode(value)
    bad["ts"] = NOW + 10 * 365 * 86400  # far in the future: rejected
    batch[2] = FileRecord("driftd.features", 3, 102, 0, msgspec.json.encode(bad))
    events, rejected = Decoder(CONFIG, now=lambda: NOW + 3600).decode(batch)
    assert len(rejected) == 1 and len(events) == 5
    assert event_columns.decoded_batch(events) is None
    assert read(events) == expected(events)


def test_release_detaches_the_events_and_a_new_batch_releases_the_last() -> None:
    decoder = Decoder(CONFIG, now=lambda: NOW + 3600)
    first, _ = decoder.decode(records(4))
    columns = first[0].columns
    assert columns is not None and columns.events is first
    second, _ = decoder.decode(records(4, partition=4))
    assert columns.events is None  # the previous batch was released
    assert event_columns.decoded_batch(first) is None
    assert read(first) == expected(first)  # read event by event from now on
    decoder.release()
    assert second[0].columns is not None and second[0].columns.events is None


def test_the_pipeline_releases_every_batch_it_processed() -> None:
    pipeline = Pipeline(CONFIG, Metrics(CollectorRegistry()), now=lambda: NOW + 3600)
    pipeline.process(records(20))
    assert pipeline.decoder.native._attached == []


def test_an_envelope_column_holds_numbers_of_the_expected_type(decoded: list[Event]) -> None:
    assert event_columns.stamps(decoded).dtype == np.float64
    assert event_columns.partitions(decoded).dtype == np.int32
    assert event_columns.offsets(decoded).dtype == np.int64


def test_the_join_passes_a_decoded_batch_through_as_it_passes_any_complete_events(
    decoded: list[Event],
) -> None:
    fast, general = JoinBuffer(300.0, 10), JoinBuffer(300.0, 10)
    fast_result = fast.add(decoded)
    general_result = general.add(iter(decoded))  # not the decoded list: event by event
    assert fast_result.completed == general_result.completed == decoded
    assert fast.watermark == general.watermark == max(e.ts for e in decoded)
    assert fast.snapshot() == general.snapshot()


def test_each_task_of_a_batch_of_several_partitions_gets_its_own_decoded_batch() -> None:
    pipeline = Pipeline(CONFIG, Metrics(CollectorRegistry()), now=lambda: NOW + 3600)
    mixed = [r for pair in zip(records(10, 3), records(10, 4), strict=True) for r in pair]
    seen: dict[int, list[Event]] = {}
    process_task = pipeline._process_task

    def spy(partition: int, events: list[Event]) -> list[Any]:
        seen[partition] = events
        assert event_columns.decoded_batch(events) is not None
        return process_task(partition, events)

    pipeline._process_task = spy  # type: ignore[method-assign]
    pipeline.process(mixed)
    assert sorted(seen) == [3, 4]
    assert [e.offset for e in seen[3]] == [e.offset for e in seen[4]] == list(range(100, 110))
