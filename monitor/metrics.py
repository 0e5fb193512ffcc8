"""Prometheus metrics, registered on a registry that is passed in (never the global one).

Names follow Prometheus conventions: ``driftd_`` prefix, ``_total`` counters, base units
(seconds, bytes). Label values come from bounded sets only: configured models, topics and
features, fixed reason names, partition numbers.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from monitor import __version__

# `_created` series double the exposition for no use in dashboards or alerts.
disable_created_metrics()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.build_info = Info("driftd_build", "driftd build information", registry=r)
        self.build_info.info({"version": __version__})
        self.records_consumed = Counter(
            "driftd_records_consumed_total", "Records read from input topics", ["topic"], registry=r
        )
        self.events = Counter(
            "driftd_events_total",
            "Events handed to the monitors, by whether both halves were joined",
            ["model", "join"],
            registry=r,
        )
        self.labels = Counter(
            "driftd_labels_total", "Ground-truth label messages accepted", ["model"], registry=r
        )
        self.dead_letters = Counter(
            "driftd_dead_letters_total",
            "Messages sent to the dead-letter topic, by source topic and reason",
            ["topic", "reason"],
            registry=r,
        )
        self.records_skipped = Counter(
            "driftd_records_skipped_total",
            "Input records a format is configured not to read (other KServe components, "
            "other Seldon pipelines), by topic and reason",
            ["topic", "reason"],
            registry=r,
        )
        self.join_pending = Gauge(
            "driftd_join_pending", "Event halves waiting for their other half", registry=r
        )
        self.join_expired = Counter(
            "driftd_join_expired_total",
            "Event halves whose other half never came within the TTL, by the part that was missing",
            ["model", "missing"],
            registry=r,
        )
        self.join_duplicates = Counter(
            "driftd_join_duplicates_total", "Repeated event halves ignored by the join", registry=r
        )
        self.outputs = Counter(
            "driftd_output_records_total", "Records written to output topics", ["topic"], registry=r
        )
        self.batch_seconds = Histogram(
            "driftd_batch_duration_seconds",
            "Time to process one polled batch through the pipeline",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_records = Histogram(
            "driftd_batch_records",
            "Records per polled batch",
            buckets=(1, 10, 100, 500, 1000, 5000, 10000, 50000),
            registry=r,
        )
        self.lag = Gauge(
            "driftd_consumer_lag_records",
            "Records between the consumer position and the end of each partition",
            ["topic", "partition"],
            registry=r,
        )
        self.last_event_time = Gauge(
            "driftd_last_event_timestamp_seconds",
            "Event time of the newest event seen per model",
            ["model"],
            registry=r,
        )
        self.checkpoints = Counter(
            "driftd_checkpoints_total", "State checkpoints written with their offsets", registry=r
        )
        self.checkpoint_bytes = Gauge(
            "driftd_checkpoint_size_bytes", "Size of the last state checkpoint", registry=r
        )
        self.checkpoint_seconds = Histogram(
            "driftd_checkpoint_duration_seconds",
            "Time from a checkpoint's snapshot to its commit: outputs acknowledged, state "
            "written and acknowledged (the main loop goes on meanwhile)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.restores = Counter(
            "driftd_state_restores_total",
            "Tasks whose state was restored from a checkpoint, or started empty",
            ["outcome"],
            registry=r,
        )
        self.rewinds = Counter(
            "driftd_rewinds_total",
            "Times processing went back to the last checkpoint after a failed delivery",
            registry=r,
        )
        self.assigned_partitions = Gauge(
            "driftd_assigned_partitions", "Input partitions assigned to this member", registry=r
        )
        self.ready = Gauge("driftd_ready", "1 when /readyz answers ready", registry=r)
        self.broker_up = Gauge(
            "driftd_broker_reachable", "1 while the Kafka cluster answers", registry=r
        )
        drift_labels = ["model", "segment", "window", "feature", "test"]
        self.drift_statistic = Gauge(
            "driftd_drift_statistic", "Last window's drift statistic", drift_labels, registry=r
        )
        self.drift_p_value = Gauge(
            "driftd_drift_p_value",
            "Last window's raw p-value (tests that have one)",
            drift_labels,
            registry=r,
        )
        self.drift_p_value_corrected = Gauge(
            "driftd_drift_p_value_corrected",
            "Last window's p-value after the multiple-testing correction",
            drift_labels,
            registry=r,
        )
        self.drift_detected = Gauge(
            "driftd_drift_detected",
            "1 if the last window drifted (significant and large enough)",
            drift_labels,
            registry=r,
        )
        self.drift_share = Gauge(
            "driftd_drifted_features_share",
            "Share of features drifted in the last window",
            ["model", "segment", "window"],
            registry=r,
        )
        self.windows = Counter(
            "driftd_windows_evaluated_total",
            "Closed windows tested against the reference",
            ["model", "segment", "window"],
            registry=r,
        )
        self.windows_skipped = Counter(
            "driftd_windows_skipped_total",
            "Closed windows with too few events to test",
            ["model", "window"],
            registry=r,
        )
        self.late_events = Counter(
            "driftd_late_events_total",
            "Events later than an event-time window's allowed lateness",
            ["model", "window"],
            registry=r,
        )
        self.alerts = Counter(
            "driftd_alerts_total",
            "Alerts written, by kind, status and severity",
            ["model", "kind", "status", "severity"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "driftd_alerts_firing", "Alerts currently firing", ["model", "kind"], registry=r
        )
        self.reference_info = Gauge(
            "driftd_reference_info",
            "1 per monitored stream, by where its reference comes from",
            ["model", "segment", "source"],
            registry=r,
        )
        self.warmup_remaining = Gauge(
            "driftd_reference_warmup_remaining_events",
            "Events still needed before a warm-up reference is complete",
            ["model", "segment"],
            registry=r,
        )
        self.category_overflow = Counter(
            "driftd_category_overflow_total",
            "Categorical values past the per-feature dictionary limit (counted as unseen)",
            ["model", "feature"],
            registry=r,
        )
        self.concept_detections = Counter(
            "driftd_concept_detections_total",
            "Detections of the concept-drift detectors, by signal (error or score)",
            ["model", "signal"],
            registry=r,
        )
        self.concept_estimate = Gauge(
            "driftd_concept_signal_estimate",
            "The detector's current mean of its signal: error rate (or mean absolute error) "
            "or mean score",
            ["model", "signal"],
            registry=r,
        )
        self.concept_firing = Gauge(
            "driftd_concept_drift_firing",
            "1 while a concept-drift alert is firing",
            ["model", "signal"],
            registry=r,
        )
        self.labels_matched = Counter(
            "driftd_labels_matched_total", "Labels joined to their decision", ["model"], registry=r
        )
        self.labels_unmatched = Counter(
            "driftd_labels_unmatched_total",
            "Labels whose decision was never seen (unknown) or waited past the TTL (expired)",
            ["model", "reason"],
            registry=r,
        )
        self.labels_late = Counter(
            "driftd_labels_late_total",
            "Labels released out of event-time order (later than reorder_seconds)",
            registry=r,
        )
        self.label_join_pending = Gauge(
            "driftd_label_join_pending",
            "Decisions waiting for a label, and early labels",
            registry=r,
        )
        self.guardrail_hits = Counter(
            "driftd_guardrail_hits_total",
            "Decisions (or aggregate checks) a guardrail rule hit",
            ["model", "rule"],
            registry=r,
        )
        self.guardrail_errors = Counter(
            "driftd_guardrail_errors_total",
            "Decisions a rule failed to evaluate (sent to review with the error)",
            ["model", "rule"],
            registry=r,
        )
        self.decisions = Counter(
            "driftd_decisions_total",
            "Decisions by guardrail outcome: approved, review, blocked",
            ["model", "outcome"],
            registry=r,
        )
        # Fairness: group labels are values of declared attributes, at most max_groups
        # of them per attribute (the rest pooled as "__other__").
        group = ["model", "attribute", "group"]
        self.fairness_positive_rate = Gauge(
            "driftd_fairness_positive_rate",
            "Last decision window's positive-decision rate per group (NaN: insufficient data)",
            group,
            registry=r,
        )
        self.fairness_group_decisions = Gauge(
            "driftd_fairness_group_decisions",
            "Decisions per group in the last decision window",
            group,
            registry=r,
        )
        self.fairness_true_positive_rate = Gauge(
            "driftd_fairness_true_positive_rate",
            "Last labelled window's true-positive rate per group (NaN: insufficient data)",
            group,
            registry=r,
        )
        self.fairness_false_positive_rate = Gauge(
            "driftd_fairness_false_positive_rate",
            "Last labelled window's false-positive rate per group (NaN: insufficient data)",
            group,
            registry=r,
        )
        self.fairness_disparate_impact = Gauge(
            "driftd_fairness_disparate_impact",
            "Lowest over highest positive-decision rate among comparable groups, last window "
            "(NaN: fewer than two groups with enough data)",
            ["model", "attribute"],
            registry=r,
        )
        self.fairness_gap = Gauge(
            "driftd_fairness_gap",
            "Largest rate difference among comparable groups, last labelled window: "
            "equal_opportunity (true-positive rate) or equalized_odds (TPR or FPR)",
            ["model", "attribute", "metric"],
            registry=r,
        )
        self.fairness_windows = Counter(
            "driftd_fairness_windows_total",
            "Fairness windows evaluated, by kind: decisions or labelled",
            ["model", "kind"],
            registry=r,
        )
        pair = ["model", "challenger"]
        self.challenger_matched = Counter(
            "driftd_challenger_matched_total",
            "Decisions of a model matched by event id with its challenger's",
            pair,
            registry=r,
        )
        self.challenger_unmatched = Counter(
            "driftd_challenger_unmatched_total",
            "Decisions whose counterpart never came within the TTL, by side",
            [*pair, "side"],
            registry=r,
        )
        self.challenger_agreement = Gauge(
            "driftd_challenger_agreement_rate",
            "Share of matched decisions with the same predicted label, last window",
            pair,
            registry=r,
        )
        self.challenger_score_difference = Gauge(
            "driftd_challenger_score_difference",
            "Challenger score minus champion score over the last window: mean, p05, p50, p95",
            [*pair, "statistic"],
            registry=r,
        )
        self.challenger_error_rate = Gauge(
            "driftd_challenger_error_rate",
            "Error rate over the last labelled window of matched decisions, by role",
            [*pair, "role"],
            registry=r,
        )
        self.challenger_windows = Counter(
            "driftd_challenger_windows_total",
            "Champion-challenger windows evaluated, by kind: decisions or labelled",
            [*pair, "kind"],
            registry=r,
        )
        self.loop_heartbeat = Gauge(
            "driftd_main_loop_heartbeat_timestamp_seconds",
            "Wall-clock time of the main loop's last iteration",
            registry=r,
        )
        # Alert delivery by the notifier; sink labels are configured sink names.
        self.alert_deliveries = Counter(
            "driftd_alert_deliveries_total",
            "Alert deliveries to sinks by outcome: delivered, retried (one failed attempt that "
            "will be retried), rejected (4xx, dead-lettered), expired (retries exhausted, "
            "dead-lettered), duplicate (already delivered, skipped)",
            ["sink", "outcome"],
            registry=r,
        )
        self.alert_delivery_seconds = Histogram(
            "driftd_alert_delivery_seconds",
            "Time from reading an alert to its sink accepting it, retries and rate limit included",
            ["sink"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.alert_delivery_pending = Gauge(
            "driftd_alert_delivery_pending",
            "Alerts read from the alerts topic and not yet accepted by every routed sink "
            "or dead-lettered",
            registry=r,
        )
