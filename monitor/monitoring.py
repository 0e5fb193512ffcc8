"""Data-drift monitoring of one model inside one task: rows → monitors → alerts.

A model's events are routed to one monitor per (reference, segment): events of a model
version with a profile of its own use that profile; all others the model's profile, or a
warm-up reference when it has none. Segment monitors (one per value of a declared
categorical feature, at most ``max_segments``) always warm up on their own traffic, since
a segment's reference is its own past, not the whole population's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from monitor.alerts import alert_record, drift_alert
from monitor.arrays import OFFSET, PARTITION, TS, Block, take
from monitor.categories import CategoryCoder
from monitor.concept import ERROR as ERROR_SIGNAL
from monitor.concept import SCORE as SCORE_SIGNAL
from monitor.concept import ConceptMonitor
from monitor.config import Config, ModelConfig
from monitor.drift import DriftMonitor, ReferenceSource, WindowReport
from monitor.event_columns import offsets, partitions, stamps, versions
from monitor.events import Event
from monitor.fastlane import fast_rows, pick
from monitor.gate import Gate
from monitor.guardrails.batch import Coded
from monitor.labels import Labelled
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.outputs import OutputRecord
from monitor.policy import DATASET, AlertPolicy
from monitor.reference import SCORE, ColumnReference
from monitor.window_stats import window_stats
from monitor.windows import EventTimeTumbling

OTHER = "__other__"
FOLDED = "__rare__"
MISSING = "__missing__"
_EMPTY: dict[str, Any] = {}
_log = get_logger("driftd.reference")


class ReferenceCatalog:
    """Profiles loaded and checked once at startup; a bad one stops the start."""

    def __init__(self, config: Config) -> None:
        self.default: dict[str, ReferenceSource | None] = {}
        self.versions: dict[str, dict[str, ReferenceSource]] = {}
        for model, model_config in config.models.items():
            ref = model_config.reference
            self.default[model] = None
            if ref.profile is not None:
                self.default[model] = _load(ref.profile, model, model_config, None)
            self.versions[model] = {
                version: _load(path, model, model_config, version)
                for version, path in ref.versions.items()
            }

    def for_version(self, model: str, version: str | None) -> tuple[str, ReferenceSource]:
        own = self.versions[model].get(version) if version is not None else None
        if own is not None:
            return f"version={version}", own
        default = self.default[model]
        if default is not None:
            return "default", default
        return "default", ReferenceSource("warmup", "warmup", None)


def _load(path: Any, model: str, model_config: ModelConfig, version: str | None) -> ReferenceSource:
    from monitor.profile import check_profile, load_profile  # noqa: PLC0415 - optional until used

    profile = load_profile(path)
    check_profile(profile, model, model_config, version=version)
    if profile.score is None and model_config.detectors.score:
        get_logger("driftd.reference").warning(
            "profile_without_score",
            model=model,
            profile=str(path),
            consequence="no prediction-score drift tests for this reference",
        )
    return _from_profile(profile)


def _from_profile(profile: Any) -> ReferenceSource:
    columns: dict[str, ColumnReference] = {}
    items = list(profile.features.items())
    if profile.score is not None:
        items.append((SCORE, profile.score))
    for name, column in items:
        if column.kind == "numeric":
            columns[name] = ColumnReference(
                "numeric",
                int(column.count),  # rows with a value
                np.asarray(column.sample, float),
                np.asarray(column.bin_edges, float),
                np.asarray(column.bin_proportions, float),
            )
            continue
        categories = list(column.categories)
        counts = np.asarray(column.counts, dtype=np.int64)
        if column.other_count:
            # Values folded away when the profile was built are rare, not new: they share
            # one reference category with whatever production sends outside the known
            # ones, instead of an empty "unseen" bucket that would always look drifted.
            categories.append(FOLDED)
            counts = np.append(counts, column.other_count)
        columns[name] = ColumnReference(
            "categorical",
            int(counts.sum()),
            categories=categories,
            counts=counts,
            unknown_to=FOLDED if column.other_count else None,
        )
    return ReferenceSource("profile", profile.content_hash, columns)


@dataclass(slots=True)
class Stream:
    monitor: DriftMonitor
    policy: AlertPolicy


class ModelMonitoring:
    def __init__(
        self, model: str, config: Config, catalog: ReferenceCatalog, metrics: Metrics
    ) -> None:
        self.model = model
        self.config: ModelConfig = config.models[model]
        self.alerts_topic = config.topics.alerts
        self.catalog = catalog
        self.metrics = metrics
        features = self.config.features
        self.numeric = [f for f, spec in features.items() if spec.type == "numeric"]
        self.categorical = [f for f, spec in features.items() if spec.type == "categorical"]
        limit = config.limits.max_categories_per_feature
        self.coders = {f: CategoryCoder(limit) for f in self.categorical}
        self.streams: dict[tuple[str, str], Stream] = {}
        self._segment_values: set[str] = set()
        self.concept = ConceptMonitor(model, self.config, self.alerts_topic, metrics)
        self.gate = Gate(model, config, metrics)
        # Set by replay to collect per-window statistics; None in the daemon (no cost).
        self.observer: Callable[[dict[str, Any]], None] | None = None
        self._wants_score = (
            bool(self.config.detectors.score) or self.config.concept.score is not None
        )

    # -- rows -------------------------------------------------------------------------
    def block(self, events: list[Event]) -> Block:
        block: Block = {
            TS: stamps(events),
            PARTITION: partitions(events),
            OFFSET: offsets(events),
        }
        fast = fast_rows(events)
        if fast is not None:
            columns, rows = fast
            for name in self.numeric:
                block[name] = columns.numeric[name][rows]
            for name in self.categorical:
                block[name] = self._encode(name, pick(columns.categorical[name], rows))
            if self._wants_score:
                block[SCORE] = columns.score[rows]
            return block
        features = [e.features or _EMPTY for e in events]
        for name in self.numeric:
            block[name] = np.array([f.get(name) for f in features], dtype=np.float64)
        for name in self.categorical:
            block[name] = self._encode(name, [f.get(name) for f in features])
        if self._wants_score:
            block[SCORE] = np.array(
                [(e.prediction or _EMPTY).get("score") for e in events], dtype=np.float64
            )
        return block

    def _encode(self, name: str, values: list[Any]) -> np.ndarray:
        coder = self.coders[name]
        before = coder.overflowed
        codes = coder.encode(values)
        if coder.overflowed > before:
            self.metrics.category_overflow.labels(self.model, name).inc(coder.overflowed - before)
        return codes

    def add(self, events: list[Event]) -> list[OutputRecord]:
        block = self.block(events)
        codes = {name: Coded(block[name], self.coders[name].values) for name in self.categorical}
        outputs = self.gate.apply(events, codes)
        refs: dict[str, list[int]] = {}
        sources: dict[str, ReferenceSource] = {}
        event_versions = versions(events)
        routes = {v: self.catalog.for_version(self.model, v) for v in set(event_versions)}
        if len({key for key, _ in routes.values()}) == 1:  # the usual case: one reference
            key, source = next(iter(routes.values()))
            refs[key], sources[key] = list(range(len(events))), source
        else:
            for i, version in enumerate(event_versions):
                key, source = routes[version]
                refs.setdefault(key, []).append(i)
                sources.setdefault(key, source)
        for ref_key, rows in refs.items():
            index = np.asarray(rows) if len(rows) != len(events) else slice(None)
            subset = take(block, index)
            outputs += self._feed((ref_key, ""), sources[ref_key], subset)
            for segment, seg_rows in self._segments(subset).items():
                warmup = ReferenceSource("warmup", "warmup", None)
                outputs += self._feed((ref_key, segment), warmup, take(subset, seg_rows))
        if SCORE in block:
            outputs += self.concept.add(
                SCORE_SIGNAL, block[SCORE], block[TS], block[PARTITION], block[OFFSET]
            )
        return outputs

    def add_labelled(self, items: list[Labelled]) -> list[OutputRecord]:
        """Errors of decisions whose labels arrived, in event-time order."""
        n = len(items)
        return self.concept.add(
            ERROR_SIGNAL,
            np.fromiter((i.error for i in items), np.float64, n),
            np.fromiter((i.ts for i in items), np.float64, n),
            np.fromiter((i.partition for i in items), np.int32, n),
            np.fromiter((i.offset for i in items), np.int64, n),
        )

    def _segments(self, block: Block) -> dict[str, np.ndarray]:
        groups: dict[str, np.ndarray] = {}
        for feature in self.config.segments:
            codes = block[feature]
            values = self.coders[feature].values
            for code in np.unique(codes).tolist():
                value = values[code] if code >= 0 else MISSING
                label = f"{feature}={value}"
                if label not in self._segment_values:
                    if len(self._segment_values) >= self.config.max_segments:
                        label = f"{feature}={OTHER}"
                    else:
                        self._segment_values.add(label)
                mask = codes == code
                groups[label] = groups[label] | mask if label in groups else mask
        return groups

    def _feed(
        self, key: tuple[str, str], source: ReferenceSource, rows: Block
    ) -> list[OutputRecord]:
        stream = self.streams.get(key)
        if stream is None:
            segment = key[1]
            monitor = DriftMonitor(self.model, self.config, source, self.coders, segment)
            stream = self.streams[key] = Stream(monitor, AlertPolicy(self.config.policy))
            if monitor.warming_up:
                _log.info(
                    "reference_warmup_started",
                    model=self.model,
                    segment=segment or None,
                    events_needed=monitor.warmup_remaining,
                )
        monitor = stream.monitor
        was_warming = monitor.warming_up
        late_before = [w.late for w in monitor.windows if isinstance(w, EventTimeTumbling)]
        reports = monitor.add(rows)
        if was_warming and not monitor.warming_up:
            _log.info("reference_warmup_complete", model=self.model, segment=key[1] or None)
        self._count_late(monitor, late_before)
        segment = key[1]
        self.metrics.warmup_remaining.labels(self.model, segment).set(monitor.warmup_remaining)
        self.metrics.reference_info.labels(self.model, segment, monitor.reference.kind).set(1)
        outputs = []
        for report in reports:
            outputs += self._judge(stream, segment, report)
        return outputs

    def _count_late(self, monitor: DriftMonitor, before: list[int]) -> None:
        windows = [w for w in monitor.windows if isinstance(w, EventTimeTumbling)]
        for window, previous in zip(windows, before, strict=True):
            if window.late > previous:
                self.metrics.late_events.labels(self.model, window.name).inc(window.late - previous)

    def _judge(self, stream: Stream, segment: str, report: WindowReport) -> list[OutputRecord]:
        m, window = self.metrics, report.window
        if window.too_small:
            m.windows_skipped.labels(self.model, window.name).inc()
            return []
        m.windows.labels(self.model, segment, window.name).inc()
        verdicts = stream.policy.judge(report)
        for v in verdicts:
            labels = (self.model, segment, window.name, v.column, v.test)
            m.drift_statistic.labels(*labels).set(v.result.statistic)
            m.drift_detected.labels(*labels).set(1 if v.drifted else 0)
            if v.result.p_value is not None:
                m.drift_p_value.labels(*labels).set(v.result.p_value)
                m.drift_p_value_corrected.labels(*labels).set(v.p_corrected or 0.0)
        if self.observer is not None:
            self.observer(window_stats(self.model, segment, stream.monitor, report, verdicts))
        features = {v.column for v in verdicts if v.column != SCORE}
        if features:
            drifted = {v.column for v in verdicts if v.drifted and v.column != SCORE}
            m.drift_share.labels(self.model, segment, window.name).set(len(drifted) / len(features))
        outputs = []
        for transition in stream.policy.step(report, verdicts):
            body = drift_alert(
                self.model,
                segment,
                stream.monitor.reference,
                window,
                transition,
                self.config.policy.correction,
            )
            kind = body["kind"]
            m.alerts.labels(self.model, kind, transition.status, transition.severity).inc()
            delta = 1 if transition.status == "firing" else -1
            m.alerts_firing.labels(self.model, kind).inc(delta)
            outputs.append(alert_record(body, self.alerts_topic))
        return outputs

    def release(self) -> None:
        """The task moves away: its firing alerts are no longer this member's to report."""
        for stream in self.streams.values():
            for key in stream.policy.firing:
                kind = "dataset_drift" if key.startswith(DATASET) else "data_drift"
                self.metrics.alerts_firing.labels(self.model, kind).dec()
        self.metrics.alerts_firing.labels(self.model, "concept_drift").dec(self.concept.firing)
        self.metrics.alerts_firing.labels(self.model, "guardrail").dec(len(self.gate.last_hit))

    # -- state ------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "coders": {name: coder.snapshot() for name, coder in self.coders.items()},
            "segments": sorted(self._segment_values),
            "concept": self.concept.snapshot(),
            "gate": self.gate.snapshot(),
            "streams": [
                [ref, seg, s.monitor.snapshot(), s.policy.snapshot()]
                for (ref, seg), s in self.streams.items()
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        for name, coder_state in state["coders"].items():
            if name in self.coders:
                self.coders[name].restore(coder_state)
        self._segment_values = set(state["segments"])
        self.concept.restore(state["concept"])
        self.gate.restore(state["gate"])
        for ref, seg, monitor_state, policy_state in state["streams"]:
            version = ref.split("=", 1)[1] if ref.startswith("version=") else None
            source = self.catalog.for_version(self.model, version)[1]
            if seg:
                source = ReferenceSource("warmup", "warmup", None)
            monitor = DriftMonitor(self.model, self.config, source, self.coders, seg)
            policy = AlertPolicy(self.config.policy)
            if monitor.restore(monitor_state):
                policy.restore(policy_state)
            self.streams[(ref, seg)] = Stream(monitor, policy)
            for key in policy.firing:
                kind = "dataset_drift" if key.startswith(DATASET) else "data_drift"
                self.metrics.alerts_firing.labels(self.model, kind).inc()
