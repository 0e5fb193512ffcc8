"""What the demo shows: the daemon's metrics, the feed's counters, drift and alerts.

``DaemonStatsReader`` reads the daemon's Prometheus registry (the same numbers
``/metrics`` serves); ``render`` draws the live view with rich, ``status_line`` is the
one-line form printed once a second without the live view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from monitor.alerts import event_time, summarize

# (column title, alert keys to try in turn): alerts are shown with whichever key they use.
ALERT_COLUMNS = ("window end", "status", "severity", "kind", "summary")
ALERT_ROWS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class DaemonStats:
    events: int = 0
    events_per_second: float = 0.0
    records_consumed: int = 0
    labels: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # reason -> count
    join_pending: int = 0
    lag: int = 0
    checkpoints: int = 0
    assigned_partitions: int = 0
    ready: bool = False
    decisions: dict[str, int] = field(default_factory=dict)  # approved / review / blocked
    error_rate: float | None = None  # the error detector's current estimate
    deliveries: dict[str, int] = field(default_factory=dict)  # outcome -> count

    @property
    def dead_letters_total(self) -> int:
        return sum(self.dead_letters.values())


class DaemonStatsReader:
    """Sums the daemon's metrics over their labels; events/s comes from the change of
    ``driftd_events_total`` over the last ``window_seconds``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        window_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.window_seconds = window_seconds
        self.clock = clock
        self._history: deque[tuple[float, float]] = deque()

    def read(self) -> DaemonStats:
        samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))

        def total(name: str) -> float:
            return sum(value for _, value in samples.get(name, []))

        dead_letters: dict[str, int] = {}
        for labels, value in samples.get("driftd_dead_letters_total", []):
            reason = labels.get("reason", "?")
            dead_letters[reason] = dead_letters.get(reason, 0) + int(value)
        events = total("driftd_events_total")
        decisions: dict[str, int] = {}
        for labels, value in samples.get("driftd_decisions_total", []):
            outcome = labels.get("outcome", "?")
            decisions[outcome] = decisions.get(outcome, 0) + int(value)
        deliveries: dict[str, int] = {}
        for labels, value in samples.get("driftd_alert_deliveries_total", []):
            outcome = labels.get("outcome", "?")
            deliveries[outcome] = deliveries.get(outcome, 0) + int(value)
        error_rate = next(
            (
                v
                for lab, v in samples.get("driftd_concept_signal_estimate", [])
                if lab.get("signal") == "error"
            ),
            None,
        )
        return DaemonStats(
            decisions=decisions,
            deliveries=deliveries,
            error_rate=error_rate,
            events=int(events),
            events_per_second=self._rate(events),
            records_consumed=int(total("driftd_records_consumed_total")),
            labels=int(total("driftd_labels_total")),
            # Every reason's counter exists from the start (at 0); show only those seen.
            dead_letters=dict(
                sorted(((r, n) for r, n in dead_letters.items() if n), key=lambda item: -item[1])
            ),
            join_pending=int(total("driftd_join_pending")),
            lag=int(total("driftd_consumer_lag_records")),
            checkpoints=int(total("driftd_checkpoints_total")),
            assigned_partitions=int(total("driftd_assigned_partitions")),
            ready=total("driftd_ready") >= 1,
        )

    def _rate(self, events: float) -> float:
        now = self.clock()
        history = self._history
        history.append((now, events))
        while len(history) > 2 and now - history[1][0] >= self.window_seconds:
            history.popleft()
        then, before = history[0]
        return (events - before) / (now - then) if now > then else 0.0


@dataclass(frozen=True, slots=True)
class FeedStats:
    target_rate: float = 0.0
    sent_events: int = 0
    sent_labels: int = 0
    sent_malformed: int = 0
    send_errors: int = 0


@dataclass(frozen=True, slots=True)
class DemoStatus:
    elapsed: float
    daemon: DaemonStats
    feed: FeedStats
    drift: str  # whether the demo's drift is pending or active
    drift_detail: str = ""  # what the drift changes
    alerts: Sequence[dict[str, Any]] = ()  # newest first
    alerts_total: int = 0
    where: str = ""  # broker and metrics addresses
    delivered: int = 0  # alerts the local webhook receiver accepted
    bad_signatures: int = 0


def status_line(status: DemoStatus) -> str:
    """One line for logs: stable ``key=value`` pairs that scripts and tests can parse."""
    d, f = status.daemon, status.feed
    reasons = ",".join(f"{reason}:{count}" for reason, count in d.dead_letters.items())
    return (
        f"[{status.elapsed:6.1f}s] sent={f.sent_events} events={d.events} "
        f"rate={d.events_per_second:.0f}/s consumed={d.records_consumed} labels={d.labels} "
        f"dead_letters={d.dead_letters_total} ({reasons or 'none'}) "
        f"join_pending={d.join_pending} lag={d.lag} checkpoints={d.checkpoints} "
        f"ready={'yes' if d.ready else 'no'} alerts={status.alerts_total} "
        f"review={d.decisions.get('review', 0)} blocked={d.decisions.get('blocked', 0)} "
        f"delivered={status.delivered} drift={status.drift!r}"
    )


def render(status: DemoStatus) -> RenderableType:
    d, f = status.daemon, status.feed
    header = Text.assemble(
        ("driftd demo", "bold cyan"),
        f"  {status.elapsed:5.0f} s  ",
        (status.where, "dim"),
        ("  Ctrl-C stops", "dim"),
    )
    traffic = _pairs(
        "Traffic sent",
        [
            ("target rate", f"{f.target_rate:,.0f}/s"),
            ("events", f"{f.sent_events:,}"),
            ("late labels", f"{f.sent_labels:,}"),
            ("malformed", f"{f.sent_malformed:,}"),
            ("send errors", _warn_if(f.send_errors)),
        ],
    )
    daemon = _pairs(
        "Daemon",
        [
            ("events processed", f"{d.events:,}"),
            ("events/s", f"{d.events_per_second:,.0f}"),
            ("records consumed", f"{d.records_consumed:,}"),
            ("labels accepted", f"{d.labels:,}"),
            ("join pending", f"{d.join_pending:,}"),
            ("consumer lag", f"{d.lag:,}"),
            ("checkpoints", f"{d.checkpoints:,}"),
            ("partitions", str(d.assigned_partitions)),
            ("ready", Text("yes", "green") if d.ready else Text("not yet", "yellow")),
        ],
    )
    dead = Table(
        title=f"Dead letters ({d.dead_letters_total:,})",
        box=box.SIMPLE,
        title_justify="left",
        expand=True,
    )
    dead.add_column("reason")
    dead.add_column("count", justify="right")
    for reason, count in d.dead_letters.items():
        dead.add_row(reason, f"{count:,}")
    if not d.dead_letters:
        dead.add_row(Text("none yet", "dim"), "")
    decided = d.decisions
    gate = _pairs(
        "Guardrails, labels, delivery",
        [
            ("approved", f"{decided.get('approved', 0):,}"),
            ("sent to review", f"{decided.get('review', 0):,}"),
            ("blocked", f"{decided.get('blocked', 0):,}"),
            ("error rate (labels)", "-" if d.error_rate is None else f"{d.error_rate:.1%}"),
            ("webhook deliveries", f"{status.delivered:,}"),
            ("bad signatures", _warn_if(status.bad_signatures)),
            ("delivery retries", f"{d.deliveries.get('retried', 0):,}"),
        ],
    )
    top = Table.grid(expand=True, padding=(0, 2))
    for _ in range(4):
        top.add_column(ratio=1)
    top.add_row(traffic, daemon, gate, dead)
    drift = Panel(
        _drift_and_alerts(status),
        title="Drift & alerts",
        title_align="left",
        border_style="magenta",
    )
    return Group(header, top, drift)


def _drift_and_alerts(status: DemoStatus) -> RenderableType:
    injected = Text.assemble(
        ("injected drift ", "bold"), f"({status.drift}): ", status.drift_detail
    )
    if not status.alerts:
        return Group(injected, Text("no alerts", "green"))
    table = Table(box=box.SIMPLE_HEAD, expand=True)
    for title in ALERT_COLUMNS:
        table.add_column(title, overflow="fold", ratio=4 if title == "summary" else 1)
    for alert in status.alerts[:ALERT_ROWS_SHOWN]:
        table.add_row(*alert_row(alert))
    count = Text(f"{status.alerts_total} alert(s), newest first", "bold red")
    return Group(injected, count, table)


def alert_row(alert: dict[str, Any]) -> list[str]:
    """The cells of one alert as written to the alerts topic."""
    end = event_time(alert)
    when = time.strftime("%H:%M:%S", time.localtime(end)) if end is not None else ""
    return [
        when,
        str(alert.get("status", "")),
        str(alert.get("severity", "")),
        str(alert.get("kind", "")),
        summarize(alert),
    ]


def _pairs(title: str, rows: list[tuple[str, str | Text]]) -> Table:
    table = Table(title=title, box=box.SIMPLE, title_justify="left", show_header=False, expand=True)
    table.add_column(style="dim")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def _warn_if(count: int) -> Text:
    return Text(f"{count:,}", "red" if count else "")
