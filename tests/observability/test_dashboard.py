"""The Grafana dashboard: valid, on the ${datasource} variable, querying driftd's metrics.

Whether the series really appear on a running daemon is checked by test_live_metrics.py;
here the names are checked against the metric definitions of ``monitor.metrics``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from monitor.metrics import Metrics
from tests.observability.promql import (
    DASHBOARD,
    dashboard_queries,
    load_dashboard,
    metric_names,
    selectors,
    walk_panels,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What the dashboard must show (the metric names, as series).
REQUIRED = {
    "driftd_records_consumed_total",
    "driftd_events_total",
    "driftd_consumer_lag_records",
    "driftd_dead_letters_total",
    "driftd_batch_duration_seconds_bucket",
    "driftd_checkpoint_duration_seconds_bucket",
    "driftd_drift_statistic",
    "driftd_drift_detected",
    "driftd_drifted_features_share",
    "driftd_concept_signal_estimate",
    "driftd_concept_drift_firing",
    "driftd_guardrail_hits_total",
    "driftd_decisions_total",
    "driftd_alerts_firing",
    "driftd_alerts_total",
    "driftd_alert_deliveries_total",
    "driftd_alert_delivery_seconds_bucket",
    "driftd_ready",
    "driftd_broker_reachable",
}


def defined_series() -> dict[str, str]:
    """Every series name ``monitor.metrics`` can expose -> its metric type."""
    series = {}
    for family in Metrics().registry.collect():
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "info": ["_info"],
        }.get(family.type, [""])
        for suffix in suffixes:
            series[family.name + suffix] = family.type
    return series


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def test_is_a_current_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 38
    assert dashboard["uid"] == "driftd" and dashboard["title"]
    assert dashboard.get("id") is None  # importable into any Grafana
    assert DASHBOARD.read_text(encoding="utf-8").endswith("}\n")
    panels = list(walk_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"panel {panel['title']!r} has no query"
            assert panel.get("description"), f"panel {panel['title']!r} has no description"


def test_datasource_is_the_template_variable_everywhere(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"

    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "datasource":
                    found.append(path)
                    assert value == DATASOURCE, f"{path}: datasource {value!r}"
                else:
                    walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")

    walk(dashboard, "dashboard")
    queried = [panel for panel in walk_panels(dashboard["panels"]) if panel.get("targets")]
    targets = sum(len(panel["targets"]) for panel in queried)
    # Each panel, each target, the annotation and each query variable name the variable.
    assert len(found) >= len(queried) + targets
    for panel in queried:
        assert panel["datasource"] == DATASOURCE
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"])
    # No data source is named any other way (a uid, a name) anywhere in the file.
    text = DASHBOARD.read_text(encoding="utf-8")
    assert set(re.findall(r'"uid":\s*"([^"]*)"', text)) == {"driftd", "${datasource}"}


def test_model_and_feature_variables_come_from_label_values(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in ("model", "feature"):
        variable = variables[name]
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        assert variable["type"] == "query" and variable["datasource"] == DATASOURCE
        assert re.fullmatch(rf"label_values\(driftd_\w+(\{{[^}}]*\}})?,\s*{name}\)", text), text
        assert variable["includeAll"] and variable["allValue"] == ".*"
    # Every variable a query uses is defined, and every defined one is used.
    used = set()
    for _, expr in dashboard_queries(dashboard):
        used |= set(re.findall(r"\$\{?(\w+)", expr))
    used -= {"__rate_interval", "__interval", "__range"}
    assert used == set(variables) - {"datasource"}


def test_queries_use_only_metrics_driftd_defines(dashboard: dict[str, Any]) -> None:
    defined = defined_series()
    names: set[str] = set()
    for where, expr in dashboard_queries(dashboard):
        found = metric_names(expr)
        assert found, f"{where}: no metric found in {expr!r}"
        unknown = found - set(defined)
        assert not unknown, f"{where}: {sorted(unknown)} not in monitor/metrics.py"
        names |= found
    missing = REQUIRED - names
    assert not missing, f"the dashboard shows nothing of {sorted(missing)}"


def test_histogram_quantiles_aggregate_by_le(dashboard: dict[str, Any]) -> None:
    for where, expr in dashboard_queries(dashboard):
        if "histogram_quantile" in expr:
            assert re.search(r"by \([^)]*\ble\b[^)]*\)", expr), f"{where}: {expr}"
            assert all(name.endswith("_bucket") for name, _ in selectors(expr)), where


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('rate(driftd_events_total{model=~"$model"}[$__rate_interval])', {"driftd_events_total"}),
        (
            "sum(rate(a_sum[5m])) / sum(rate(a_count[5m])) > 0.5 unless on (job) b offset 1h",
            {"a_sum", "a_count", "b"},
        ),
        ("label_values(driftd_build_info, instance)", {"driftd_build_info"}),
        ('sum by (le, sink) (x_bucket{outcome=~"a|b"}) or vector(0)', {"x_bucket"}),
        ("time() - heartbeat > 120", {"heartbeat"}),
        ("max_over_time(x[1h:5m]) >= 1e3", {"x"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
