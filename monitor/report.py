"""``driftd report``: one self-contained HTML page from a replay's output directory.

Charts are inline SVG drawn here (no script, no CDN, nothing fetched), so the page opens
offline, prints, and can be archived next to the audit trail it explains.
"""

from __future__ import annotations

import html
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.replay import read_jsonl

W, H, PAD = 520, 180, 34
REF_COLOR, CUR_COLOR = "#8da0cb", "#fc8d62"
FIRING, RESOLVED = "#d62728", "#2ca02c"
DASH = "\u2013"  # en dash between a bin's edges
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "&mdash;"
    return f"{value:.4g}" if isinstance(value, float) else _e(value)


def histogram_svg(
    title: str, labels: list[str], reference: list[float], current: list[float]
) -> str:
    """Grouped bars: reference and current proportion per bin or category."""
    n = max(len(labels), 1)
    top = max([*reference, *current, 1e-9])
    slot = (W - 2 * PAD) / n
    bar = slot * 0.38
    parts = [_frame(title)]
    for i, label in enumerate(labels):
        x = PAD + i * slot
        for j, (values, color) in enumerate(((reference, REF_COLOR), (current, CUR_COLOR))):
            value = values[i] if i < len(values) else 0.0
            height = (H - 2 * PAD) * value / top
            parts.append(
                f'<rect class="bar" x="{x + slot * 0.1 + j * bar:.1f}" y="{H - PAD - height:.1f}" '
                f'width="{bar:.1f}" height="{height:.1f}" fill="{color}">'
                f"<title>{_e(label)}: {'reference' if j == 0 else 'current'} {value:.3f}</title>"
                "</rect>"
            )
        if n <= 12:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{H - PAD + 12}" font-size="9" '
                f'text-anchor="middle">{_e(label.split(DASH)[0][:8])}</text>'
            )
    parts.append(_legend([("reference", REF_COLOR), ("current", CUR_COLOR)]))
    return _svg("histogram", parts)


def timeline_svg(title: str, series: dict[str, list[tuple[float, float]]], marks: list[Any]) -> str:
    """Statistics per window over time; ``marks`` are ``(x, status)`` of alerts."""
    points = [p for values in series.values() for p in values]
    if not points:
        return ""
    xs = [x for x, _ in points] + [x for x, _ in marks]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    y1 = max([*ys, 1e-9])

    def sx(x: float) -> float:
        return PAD + (W - 2 * PAD) * ((x - x0) / (x1 - x0) if x1 > x0 else 0.5)

    def sy(y: float) -> float:
        return H - PAD - (H - 2 * PAD) * y / y1

    parts = [_frame(title), f'<text x="4" y="{PAD}" font-size="9">{y1:.3g}</text>']
    legend = []
    for k, (name, values) in enumerate(sorted(series.items())):
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        parts.append(
            f'<polyline class="series" points="{path}" fill="none" stroke="{color}" '
            f'stroke-width="1.5"><title>{_e(name)}</title></polyline>'
        )
        legend.append((name, color))
    for x, status in marks:
        color = FIRING if status == "firing" else RESOLVED
        parts.append(
            f'<circle class="alert-marker {status}" cx="{sx(x):.1f}" cy="{PAD - 6}" r="4" '
            f'fill="{color}"><title>alert {status}</title></circle>'
            f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{PAD - 2}" y2="{H - PAD}" '
            f'stroke="{color}" stroke-dasharray="2,2"/>'
        )
    parts.append(_legend([*legend, ("firing", FIRING), ("resolved", RESOLVED)]))
    return _svg("timeline", parts)


def _frame(title: str) -> str:
    return (
        f'<text x="{PAD}" y="14" font-size="12" font-weight="bold">{_e(title)}</text>'
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#444"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#444"/>'
    )


def _legend(items: list[tuple[str, str]]) -> str:
    out, x = [], PAD
    for name, color in items:
        out.append(
            f'<rect x="{x}" y="{H - 12}" width="8" height="8" fill="{color}"/>'
            f'<text x="{x + 11}" y="{H - 5}" font-size="9">{_e(name)}</text>'
        )
        x += 14 + 6 * len(name)
    return "".join(out)


def _svg(kind: str, parts: list[str]) -> str:
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" width="{W}" '
        f'height="{H}" viewBox="0 0 {W} {H}">{"".join(parts)}</svg>'
    )


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _feature_sections(windows: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> str:
    main = [w for w in windows if w.get("kind") == "window" and not w.get("segment")]
    out = []
    for model in sorted({w["model"] for w in main}):
        mine = [w for w in main if w["model"] == model]
        out.append(f"<h2>Model {_e(model)}</h2>")
        features = sorted({t["feature"] for w in mine for t in w.get("tests", [])})
        for feature in features:
            out.append(f'<section class="feature"><h3>{_e(feature)}</h3><div class="row">')
            hist, index = _most_drifted(mine, feature)
            if hist is not None:
                if hist["kind"] == "numeric":
                    labels = _bin_labels(hist["inner_edges"])
                else:
                    labels = list(hist["categories"])
                title = f"reference vs window {index} (largest drift)"
                out.append(histogram_svg(title, labels, hist["reference"], hist["current"]))
            series: dict[str, list[tuple[float, float]]] = {}
            for w in mine:
                for t in w.get("tests", []):
                    if t["feature"] == feature and t.get("statistic") is not None:
                        series.setdefault(t["test"], []).append(
                            (w["window"]["end_time"], t["statistic"])
                        )
            marks = [
                ((a.get("window") or {}).get("end_time"), a.get("status"))
                for a in alerts
                if a.get("model") == model and a.get("feature") == feature and a.get("window")
            ]
            out.append(timeline_svg("drift statistic per window", series, marks))
            out.append("</div></section>")
    return "".join(out) or "<p><em>no tested windows in this replay</em></p>"


def _most_drifted(windows: list[dict[str, Any]], feature: str) -> tuple[Any, Any]:
    """The histogram of the window where the feature's first test statistic peaked."""
    best, best_value = None, -1.0
    for w in windows:
        if feature not in w.get("histograms", {}):
            continue
        stats = [t["statistic"] for t in w.get("tests", []) if t["feature"] == feature]
        value = stats[0] if stats and stats[0] is not None else 0.0
        if value > best_value:
            best, best_value = w, value
    if best is None:
        return None, None
    return best["histograms"][feature], best["window"]["index"]


def _short(value: float) -> str:
    """Axis-label numbers that fit under a bar: 25.9k rather than 2.59e+04."""
    for bound, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= bound:
            return f"{value / bound:.3g}{suffix}"
    return f"{value:.3g}"


def _bin_labels(edges: list[float]) -> list[str]:
    if not edges:
        return ["all"]
    inner = [f"{_short(a)}{DASH}{_short(b)}" for a, b in itertools.pairwise(edges)]
    return [f"<{_short(edges[0])}", *inner, f">={_short(edges[-1])}"]


def _guardrails(decisions: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> str:
    hits: Counter[tuple[str, str, str]] = Counter()
    for decision in decisions:
        for rule in decision.get("rules", []):
            hits[
                (decision.get("model", ""), rule.get("rule", ""), decision.get("decision", ""))
            ] += 1
    rows = [[m, r, d, n] for (m, r, d), n in sorted(hits.items())]
    guard_alerts = [
        [a.get("model"), a.get("rule"), a.get("status"), (a.get("example") or {}).get("id")]
        for a in alerts
        if a.get("kind") == "guardrail"
    ]
    return (
        "<h3>Held decisions by rule</h3>"
        + _table(["model", "rule", "decision", "count"], rows)
        + "<h3>Guardrail alerts</h3>"
        + _table(["model", "rule", "status", "example event"], guard_alerts)
    )


def _fairness(windows: list[dict[str, Any]]) -> str:
    records = [w for w in windows if w.get("kind") == "fairness"]
    if not records:
        return "<p><em>no fairness metrics configured</em></p>"
    keys = sorted({k for r in records for k, v in r.items() if not isinstance(v, dict | list)})
    keys = [k for k in keys if k != "kind"]
    return _table(keys, [[r.get(k) for k in keys] for r in records])


STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px}th{background:#f3f3f3}.row{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{background:#fff;border:1px solid #ddd}h3{margin:12px 0 4px}"""


def render(replay_dir: Path) -> str:
    alerts = read_jsonl(replay_dir / "alerts.jsonl")
    windows = read_jsonl(replay_dir / "windows.jsonl")
    decisions = read_jsonl(replay_dir / "decisions.jsonl")
    summary_path = replay_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    alert_rows = [
        [
            a.get("status"),
            a.get("kind"),
            a.get("model"),
            a.get("feature") or a.get("rule"),
            a.get("test"),
            a.get("statistic"),
            (a.get("window") or {}).get("index"),
            a.get("dedup_key"),
        ]
        for a in alerts
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>driftd report</title>
<style>{STYLE}</style></head><body>
<h1>driftd report</h1>
<p>Source: {_e(summary.get("source", "?"))} &middot; {_e(summary.get("records", "?"))} records
&middot; config hash <code>{_e(str(summary.get("config_hash", "?"))[:16])}</code>
&middot; driftd {_e(__version__)}</p>
{_feature_sections(windows, alerts)}
<h2>Alerts</h2>
{
        _table(
            ["status", "kind", "model", "feature/rule", "test", "statistic", "window", "dedup key"],
            alert_rows,
        )
    }
<h2>Guardrails</h2>
{_guardrails(decisions, alerts)}
<h2>Fairness</h2>
{_fairness(windows)}
</body></html>
"""


def write_report(replay_dir: Path, out: Path | None = None) -> Path:
    target = out or replay_dir / "report.html"
    target.write_text(render(replay_dir), encoding="utf-8")
    return target
