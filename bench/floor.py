"""The columnar floor: the least work the throughput goal's config asks for, with no events.

The throughput goal compares driftd with the bare client's consume + decode. Between the
two lies everything driftd does; this module does only what the goal's config makes
unavoidable, on columns, with driftd's own decoder and detectors and nothing else per
event:

- decode each record into the fast lane's typed struct and unpack the batch into columns
  (``monitor.fastlane``, the decoder driftd runs);
- the categorical columns as codes of the reference categories;
- the ten guardrail rules of ``bench.data.guardrails`` as numpy masks, counted into
  Prometheus counters (no review or block records are produced);
- tumbling windows of 5 000 per column, tested with KS + PSI (20 numeric columns and the
  score) and chi-square + PSI (3 categorical) when full;
- the predicted labels kept by event id, the labels joined to them by a dictionary lookup,
  and ADWIN (driftd's wrapper of river's) on the score and on the error.

Left out, though a real monitor needs them: dead-lettering and its checks, the join of
split events, outputs to Kafka, checkpoints and offsets, alert policy, bounds on the
waiting predictions, segments and versions. So its rate is an upper bound for any design
that keeps this work in one Python process with kafka-python and numpy: if the floor
itself falls short of 0.7 of the bare client, so does every design built on it.

Three variants run: msgspec's decoder, pyarrow's JSON reader, and pyarrow's reader with
the work in a second thread that overlaps the next poll (``floor_rate(overlapped=True)``):
pyarrow parses outside the GIL, so that variant is the most a one-process design can get
from the second core.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from itertools import repeat
from typing import Any

import msgspec
import numpy as np
from prometheus_client import CollectorRegistry, Counter

from bench import data
from bench.consume import Rate, consume_rate
from detectors import (
    ADWINDetector,
    CategoricalPSITest,
    ChiSquareTest,
    DriftResult,
    KSTest,
    PSITest,
)
from monitor import heap
from monitor.config import Config
from monitor.fastlane import FastLane

WINDOW = 5_000
REFERENCE_EVENTS = 10_000
RULES = (
    "f00-range",
    "f01-range",
    "f02-cap",
    "complete",
    "has-channel",
    "region-known",
    "uncertain",
    "extreme",
    "low-f03-confident",
    "approval-rate",
)


class _Label(msgspec.Struct, gc=False):
    id: str
    model: str
    ts: float
    label: int


class Floor:
    """The unavoidable per-batch work (see the module docs) for the benchmark's model."""

    def __init__(self, config: Config, registry: CollectorRegistry) -> None:
        self.lane = FastLane(config.models, config.limits)
        self.model_lane = self.lane.lanes[data.MODEL]
        self.labels = msgspec.json.Decoder(_Label)
        self.index = {
            name: {category: code for code, category in enumerate(categories)}
            for name, categories in data.CATEGORIES.items()
        }
        self.hits = Counter("floor_guardrail_hits", "rule matches", ["rule"], registry=registry)
        self.records = Counter("floor_records", "records", ["topic"], registry=registry)
        self.windows = Counter("floor_windows", "windows tested", registry=registry)
        self._hit_counters = {rule: self.hits.labels(rule) for rule in RULES}
        self.pending: dict[str, Any] = {}
        self.buffers: dict[str, list[np.ndarray]] = {}
        self.results: list[DriftResult] = []
        self.score_adwin = ADWINDetector()
        self.error_adwin = ADWINDetector()
        self.positives = 0
        self.decided = 0
        self._build_references()

    def _build_references(self) -> None:
        raws, failed = self.lane.decode_all(data.events(REFERENCE_EVENTS, seed=3))
        assert not failed
        columns = self.model_lane.unpack(raws).columns
        self.numeric = {
            name: (KSTest(column), PSITest(column))
            for name, column in self._numeric(columns).items()
        }
        self.categorical = {}
        for name, codes in self._codes(columns).items():
            counts = np.bincount(codes, minlength=len(self.index[name]) + 1)
            self.categorical[name] = (ChiSquareTest(counts), CategoricalPSITest(counts))

    def _numeric(self, columns: Any) -> dict[str, np.ndarray]:
        return {**columns.numeric, "score": columns.score}

    def _codes(self, columns: Any) -> dict[str, np.ndarray]:
        codes = {}
        for name, index in self.index.items():
            values = columns.categorical[name]
            codes[name] = np.fromiter(
                map(index.get, values, repeat(len(index))), np.intp, len(values)
            )
        return codes

    def decisions(self, values: list[bytes]) -> None:
        raws, failed = self.lane.decode_all(values)
        assert not failed, "the benchmark's events all take the fast lane"
        batch = self.model_lane.unpack(raws)
        columns = batch.columns
        numeric = self._numeric(columns)
        codes = self._codes(columns)
        self._guardrails(numeric, codes, columns.label)
        self.pending.update(zip(batch.ids, columns.label, strict=True))
        self.score_adwin.update_many(columns.score)
        self._window({**numeric, **codes})
        self.records.labels("features").inc(len(values))

    def _guardrails(
        self, numeric: dict[str, np.ndarray], codes: dict[str, np.ndarray], label: list[Any]
    ) -> None:
        score, f00, f01 = numeric["score"], numeric["f00"], numeric["f01"]
        unseen = {name: len(index) for name, index in self.index.items()}
        with np.errstate(invalid="ignore"):
            masks = {
                "f00-range": (f00 < 0) | (f00 > 1000),
                "f01-range": (f01 < 0) | (f01 > 1000),
                "f02-cap": numeric["f02"] > 2000,
                "complete": np.isnan(f00) | np.isnan(f01) | (codes["region"] == unseen["region"]),
                "has-channel": codes["channel"] == unseen["channel"],
                "region-known": codes["region"] == unseen["region"],
                "uncertain": (score >= 0.495) & (score <= 0.5),
                "extreme": (score < 0.0001) | (score > 0.9999),
                "low-f03-confident": (numeric["f03"] < 150) & (score > 0.99),
            }
        for rule, mask in masks.items():
            self._hit_counters[rule].inc(int(np.count_nonzero(mask)))
        positives = np.asarray(label, dtype=np.float64)
        self.positives += int(np.count_nonzero(positives == 1))
        self.decided += len(positives)
        if self.decided >= WINDOW:
            if self.positives / self.decided > 0.9:
                self._hit_counters["approval-rate"].inc()
            self.positives = self.decided = 0

    def _window(self, columns: dict[str, np.ndarray]) -> None:
        for name, column in columns.items():
            self.buffers.setdefault(name, []).append(column)
        filled = sum(len(part) for part in self.buffers["score"])
        if filled < WINDOW:
            return
        for name, parts in self.buffers.items():
            joined = np.concatenate(parts)
            window, rest = joined[:WINDOW], joined[WINDOW:]
            tests = self.numeric.get(name) or self.categorical[name]
            self.results.extend(test.test(window) for test in tests)
            self.buffers[name] = [rest] if len(rest) else []
        del self.results[:-100]
        self.windows.inc()

    def label_batch(self, values: list[bytes]) -> None:
        pop = self.pending.pop
        errors = []
        for value in values:
            label = self.labels.decode(value)
            predicted = pop(label.id, None)
            if predicted is not None:
                errors.append(float(predicted != label.label))
        self.error_adwin.update_many(errors)
        self.records.labels("labels").inc(len(values))


class ArrowFloor(Floor):
    """The floor with pyarrow's JSON reader in place of msgspec: it writes columns directly
    and parses on every core, outside the GIL (the fastest columnar decoder at hand)."""

    def __init__(self, config: Config, registry: CollectorRegistry) -> None:
        import pyarrow as pa  # noqa: PLC0415 - only this variant needs it
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.json as pj  # noqa: PLC0415

        super().__init__(config, registry)
        self.pa, self.pc, self.pj = pa, pc, pj
        features = pa.struct(
            [(name, pa.float64()) for name in data.NUMERIC]
            + [(name, pa.string()) for name in data.CATEGORICAL]
        )
        prediction = pa.struct([("score", pa.float64()), ("label", pa.int64())])
        fields = [("id", pa.string()), ("model", pa.string()), ("version", pa.string())]
        fields += [("ts", pa.float64()), ("features", features), ("prediction", prediction)]
        self.parse = pj.ParseOptions(
            explicit_schema=pa.schema(fields), unexpected_field_behavior="error"
        )
        self.read = pj.ReadOptions(use_threads=True, block_size=1 << 20)
        self.categories = {name: pa.array(v) for name, v in data.CATEGORIES.items()}

    def decisions(self, values: list[bytes]) -> None:
        pa, pc = self.pa, self.pc
        table = self.pj.read_json(
            pa.BufferReader(b"\n".join(values)), read_options=self.read, parse_options=self.parse
        )
        features = table.column("features").combine_chunks()
        prediction = table.column("prediction").combine_chunks()
        numeric = {name: features.field(name).to_numpy() for name in data.NUMERIC}
        numeric["score"] = prediction.field("score").to_numpy()
        codes = {}
        for name, categories in self.categories.items():
            found = pc.index_in(features.field(name), value_set=categories)
            codes[name] = pc.fill_null(found, len(categories)).to_numpy().astype(np.intp)
        label = prediction.field("label").to_numpy()
        self._guardrails(numeric, codes, label)
        self.pending.update(zip(table.column("id").to_pylist(), label.tolist(), strict=True))
        self.score_adwin.update_many(numeric["score"])
        self._window({**numeric, **codes})
        self.records.labels("features").inc(len(values))


def floor_rate(
    config: Config,
    features: str,
    labels: str,
    expected: int,
    kind: type[Floor] = Floor,
    overlapped: bool = False,
) -> Rate:
    """Consume every record of both topics and do the floor's work.

    ``overlapped``: the work runs in a second thread, at most two batches behind the
    consumer, so that whatever of it runs outside the GIL (pyarrow's parsing, numpy's
    sorts) overlaps the next poll. The most a one-process design can get from threads.
    """
    floor = kind(config, CollectorRegistry())

    def work(topic: str, values: list[bytes]) -> None:
        if topic == labels:
            floor.label_batch(values)
        else:
            floor.decisions(values)

    if not overlapped:
        return consume_rate(
            config,
            (features, labels),
            expected,
            "floor",
            lambda topic, records: work(topic, [record.value for record in records]),
        )
    pending: queue.Queue[tuple[str, list[bytes]] | None] = queue.Queue(maxsize=2)
    failed: list[BaseException] = []

    def worker() -> None:
        while (item := pending.get()) is not None:
            try:
                work(*item)
            except BaseException as exc:  # reported by drain, in the timing thread
                failed.append(exc)

    thread = threading.Thread(target=worker, name="floor-work", daemon=True)
    thread.start()

    def hand_over(topic: str, records: list[Any]) -> None:
        pending.put((topic, [record.value for record in records]))

    def drain() -> None:
        pending.put(None)
        thread.join()
        if failed:
            raise failed[0]

    try:
        return consume_rate(config, (features, labels), expected, "floor", hand_over, drain)
    finally:
        if thread.is_alive():
            pending.put(None)


def main(total: int) -> None:
    """Wall-clock time per event of the floor's work in this process, without Kafka
    (``--arrow``: the pyarrow variant, whose reader uses every core)."""
    names = {k: k for k in ("features", "predictions", "labels", "alerts", "review", "dead_letter")}
    config = Config.model_validate(data.config("127.0.0.1:9", names, "floor", 0))
    kind = ArrowFloor if "--arrow" in sys.argv else Floor
    floor = kind(config, CollectorRegistry())
    values = data.events(total, drift_from=total // 2)
    label_values = data.labels(range(0, total, 10))
    heap.settle()
    spent = 0.0
    for start in range(0, total, WINDOW):
        started = time.perf_counter()
        floor.decisions(values[start : start + WINDOW])
        floor.label_batch(label_values[start // 10 : (start + WINDOW) // 10])
        if start >= REFERENCE_EVENTS:
            spent += time.perf_counter() - started
    measured = total - REFERENCE_EVENTS
    print(f"{kind.__name__}: {spent / measured * 1e6:.2f} µs per event over {measured:,} events")


if __name__ == "__main__":
    numbers = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    main(numbers[0] if numbers else 60_000)
