"""``driftd replay --compare``: what another config would have done differently.

Alerts are compared by identity (dedup key, status, window and event time): an alert of
one run missing from the other is *lost* or *gained*. Decisions are compared per event:
an event absent from ``decisions.jsonl`` was approved, so a change is any event whose
outcome (approve, review, block) differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.replay import read_jsonl


def alert_identity(alert: dict[str, Any]) -> tuple[Any, ...]:
    window = alert.get("window") or {}
    from monitor.alerts import event_time  # noqa: PLC0415

    return (
        alert.get("dedup_key"),
        alert.get("status"),
        window.get("name"),
        window.get("index"),
        event_time(alert),
    )


def _decisions(out_dir: Path) -> dict[tuple[str, str], str]:
    return {(d["model"], d["id"]): d["decision"] for d in read_jsonl(out_dir / "decisions.jsonl")}


def compare(base_dir: Path, other_dir: Path) -> dict[str, Any]:
    base = {alert_identity(a): a for a in read_jsonl(base_dir / "alerts.jsonl")}
    other = {alert_identity(a): a for a in read_jsonl(other_dir / "alerts.jsonl")}
    base_decisions, other_decisions = _decisions(base_dir), _decisions(other_dir)
    changed = []
    for key in sorted(set(base_decisions) | set(other_decisions)):
        before = base_decisions.get(key, "approve")
        after = other_decisions.get(key, "approve")
        if before != after:
            changed.append({"model": key[0], "id": key[1], "base": before, "other": after})

    def brief(alert: dict[str, Any]) -> dict[str, Any]:
        window = alert.get("window") or {}
        return {
            "dedup_key": alert.get("dedup_key"),
            "status": alert.get("status"),
            "window": window.get("name"),
            "window_index": window.get("index"),
            "statistic": alert.get("statistic"),
        }

    return {
        "alerts": {"base": len(base), "other": len(other)},
        "alerts_gained": [brief(other[k]) for k in other if k not in base],
        "alerts_lost": [brief(base[k]) for k in base if k not in other],
        "decisions_changed": changed,
    }


def write_and_print(result: dict[str, Any], out_dir: Path, base: str, other: str) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    (out_dir / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"{base} → {other}")
    table.add_column("change")
    table.add_column("alert / event")
    table.add_column("status / outcome")
    for alert in result["alerts_gained"]:
        table.add_row("[green]gained[/]", alert["dedup_key"], alert["status"])
    for alert in result["alerts_lost"]:
        table.add_row("[red]lost[/]", alert["dedup_key"], alert["status"])
    for item in result["decisions_changed"][:50]:
        table.add_row(
            "decision", f"{item['model']}/{item['id']}", f"{item['base']} → {item['other']}"
        )
    console = Console()
    console.print(table)
    more = len(result["decisions_changed"]) - 50
    if more > 0:
        console.print(f"... and {more} more changed decisions (see compare.json)")
    console.print(
        f"alerts: {result['alerts']['base']} → {result['alerts']['other']} "
        f"({len(result['alerts_gained'])} gained, {len(result['alerts_lost'])} lost); "
        f"decisions changed: {len(result['decisions_changed'])}"
    )
