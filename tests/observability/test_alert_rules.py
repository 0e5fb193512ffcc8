"""The Prometheus alert rules: promtool checks and unit tests, and their conventions.

promtool comes from Debian's ``prometheus`` package, installed by ``.ci/install-tools``.
These tests fail (never skip) without it, so a CI machine missing it is noticed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.observability.promql import (
    ALERT_RULES,
    ALERT_TESTS,
    ROOT,
    SCRAPE_SERIES,
    load_rules,
    metric_names,
    selectors,
)
from tests.observability.test_dashboard import defined_series

SCRAPE_CONFIG = ROOT / "config" / "kubernetes" / "prometheus-scrape.yaml"
SEVERITIES = {"critical", "warning", "info"}
# What the rules must cover, by the series each watches.
REQUIRED = {
    "up",
    "driftd_ready",
    "driftd_consumer_lag_records",
    "driftd_dead_letters_total",
    "driftd_alert_deliveries_total",
    "driftd_alert_delivery_pending",
    "driftd_checkpoints_total",
    "driftd_alerts_firing",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool is not installed: run `.ci/install-tools` (as root) to install "
            "Debian's prometheus package, which provides it",
            pytrace=False,
        )
    return subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERT_RULES.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in result.stdout


def test_promtool_rule_unit_tests() -> None:
    result = promtool("test", "rules", str(ALERT_TESTS.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_check_scrape_config(tmp_path: Path) -> None:
    # Debian's promtool is built without Kubernetes service discovery: check the rest of
    # the configuration with the discovery replaced by a static target.
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    jobs = config["scrape_configs"]
    assert [job["job_name"] for job in jobs] == ["driftd"]
    assert jobs[0]["kubernetes_sd_configs"] == [{"role": "pod"}]
    for job in jobs:
        del job["kubernetes_sd_configs"]
        job["static_configs"] = [{"targets": ["127.0.0.1:9108"]}]
    config["rule_files"] = [str((SCRAPE_CONFIG.parent / f).resolve()) for f in config["rule_files"]]
    assert config["rule_files"] == [str(ALERT_RULES)]
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(checked))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rule_is_complete() -> None:
    for rule in load_rules():
        name = rule["alert"]
        assert name.startswith("Driftd"), name
        assert "for" in rule, f"{name}: no `for:`"
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert rule["annotations"]["summary"].strip(), name
        assert rule["annotations"]["description"].strip(), name


def test_rules_watch_driftd_metrics_of_the_driftd_job() -> None:
    defined = defined_series()
    watched: set[str] = set()
    for rule in load_rules():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        unknown = names - set(defined) - SCRAPE_SERIES
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not in monitor/metrics.py"
        for selected, matched in selectors(rule["expr"]):
            assert "job" in matched, f"{rule['alert']}: {selected} is not limited to a job"
        watched |= names
    assert not REQUIRED - watched, sorted(REQUIRED - watched)


def _cases() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    assert data["rule_files"] == [ALERT_RULES.name]
    return [case for test in data["tests"] for case in test["alert_rule_test"]]


def test_every_rule_has_a_firing_and_a_silent_unit_test() -> None:
    cases = _cases()
    for rule in load_rules():
        name = rule["alert"]
        own = [case for case in cases if case["alertname"] == name]
        firing = [case for case in own if case.get("exp_alerts")]
        silent = [case for case in own if not case.get("exp_alerts")]
        assert firing, f"{name}: no test where it fires"
        assert silent or name in {"DriftdRewinding", "DriftdAlertDeliveryFailed"}, (
            f"{name}: no test where it stays silent (pending or not matching)"
        )
        for case in firing:
            for alert in case["exp_alerts"]:
                # promtool compares the rendered templates: the annotations are spelled out.
                assert alert["exp_labels"]["severity"] == rule["labels"]["severity"], name
                assert set(alert["exp_annotations"]) == {"summary", "description"}, name
