"""Reading the metric names (and label matchers) out of PromQL, Grafana dashboards and rules.

Not a PromQL parser: just enough to find which series an expression selects. String
literals, Grafana variables (``$model``, ``${datasource}``, ``$__rate_interval``), range
and subquery brackets and the label lists of ``by``/``without``/``on``/``ignoring``/
``group_left``/``group_right`` are removed; what remains that looks like an identifier and
is neither a function call, a keyword nor a number is a metric name.

>>> sorted(metric_names('histogram_quantile(0.99, sum by (le) (rate('
...     'driftd_batch_duration_seconds_bucket{instance=~"$instance"}[$__rate_interval])))'))
['driftd_batch_duration_seconds_bucket']
>>> sorted(metric_names('up{job="driftd"} == 0 or absent(up{job="driftd"})'))
['up']
>>> [(name, sorted(labels)) for name, labels in selectors(
...     'sum by (model) (driftd_alerts_firing{model=~"$model", kind!="x"}) > 0')]
[('driftd_alerts_firing', ['kind', 'model'])]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana" / "driftd.json"
ALERT_RULES = ROOT / "config" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "config" / "prometheus" / "alerts_test.yml"
MANIFEST = ROOT / "config" / "kubernetes" / "driftd-sidecar.yaml"

# Series Prometheus itself adds on every scrape; the rules may use them.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# Labels Prometheus adds to every scraped series (target labels).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod", "container"})

_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "inf", "nan", "atan2",
    }
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_BRACKETS = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
_MATCHERS = re.compile(r"\{[^}]*\}")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")
_NUMBER_SUFFIX = re.compile(r"(?<=\d)[smhdwy]\b")
_SELECTOR = re.compile(r"(?<![\w.:])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})")
_MATCHER_LABEL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")


def _without_strings(expr: str) -> str:
    return _STRING.sub('""', expr)


def metric_names(expr: str) -> set[str]:
    """Names of the series an expression (or a Grafana ``label_values(...)``) selects."""
    text = _VARIABLE.sub(" ", _without_strings(expr))
    # label_values(metric, label): the second argument is a label, not a metric.
    text = re.sub(r"\blabel_values\s*\(([^,()]*(?:\{[^}]*\})?)\s*,\s*\w+\s*\)", r"(\1)", text)
    text = _MATCHERS.sub(" ", _BRACKETS.sub(" ", _GROUPING.sub(" ", text)))
    text = _NUMBER_SUFFIX.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """``(metric, label names matched on)`` for every ``metric{...}`` selector."""
    text = _without_strings(expr)
    return [
        (name, set(_MATCHER_LABEL.findall(matchers)))
        for name, matchers in _SELECTOR.findall(text)
        if name.lower() not in _KEYWORDS
    ]


# -- Grafana --------------------------------------------------------------------------
def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def walk_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from walk_panels(panel.get("panels", []))


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(where, PromQL)`` for every panel target, annotation and query variable."""
    queries = []
    for panel in walk_panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            queries.append((f"panel {panel.get('title')!r} {target.get('refId')}", target["expr"]))
    for annotation in dashboard.get("annotations", {}).get("list", []):
        if "expr" in annotation:
            queries.append((f"annotation {annotation['name']!r}", annotation["expr"]))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            queries.append((f"variable {variable['name']!r}", text))
    return queries


# -- Prometheus rules -----------------------------------------------------------------
def load_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERT_RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def series_of_histogram(name: str) -> str:
    """``x_bucket``/``x_sum``/``x_count`` -> ``x`` (other names unchanged)."""
    return re.sub(r"_(bucket|sum|count)$", "", name)
