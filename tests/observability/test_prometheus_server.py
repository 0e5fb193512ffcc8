"""A real Prometheus scrapes a running driftd and sees the values the traffic implies.

Prometheus (Debian's ``prometheus`` package, installed by ``.ci/install-tools``) runs with
``deploy/prometheus.yml`` — the compose stack's configuration — with its target swapped for
the daemon on loopback, a 1 s scrape interval and the alert rules of
``config/prometheus/alerts.yml``. A ``driftd run`` subprocess reads known traffic from the
embedded broker: a warm-up reference, two windows (the second with a mean shift) and
malformed messages. Through Prometheus' HTTP query API the test then checks the counters
(records, events, dead letters by reason, windows) against the traffic, and the drift
gauges against Kolmogorov-Smirnov statistics scipy computes from the same values.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from monitor.broker import EmbeddedBroker, free_port
from monitor.config import InputLimits
from monitor.demo.traffic import FeatureSpec, MeanShift, TrafficGenerator, features_config
from monitor.events import Reasons
from tests.kafkatools import create_topics, produce, running_daemon, unique, write_config
from tests.observability.promql import ALERT_RULES, ROOT, load_rules

pytestmark = pytest.mark.integration

COMPOSE_PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
MODEL = "credit-risk"
WARMUP = 200
WINDOW = 200
EVENTS = WARMUP + 2 * WINDOW  # the reference, a clean window and a drifted one
MALFORMED = 26
LIMITS = InputLimits(max_message_bytes=65536)
NUMERIC = ("income", "age", "debt_to_income")
FEATURES = (
    FeatureSpec.lognormal("income", 10.8, 0.5, weight=-0.9, required=True),
    FeatureSpec.uniform("age", 18.0, 75.0, weight=-0.3),
    FeatureSpec.normal("debt_to_income", 0.35, 0.12, weight=1.2),
    FeatureSpec.categorical("region", {"north": 0.4, "south": 0.35, "east": 0.25}),
)


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "prometheus is not installed: run `.ci/install-tools` (as root) to install "
            "Debian's prometheus package",
            pytrace=False,
        )
    return path


def prometheus_config(path: Path, target: str) -> None:
    """deploy/prometheus.yml, scraping ``target`` every second with the repository's rules."""
    config = yaml.safe_load(COMPOSE_PROMETHEUS.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/rules/alerts.yml"]
    config["rule_files"] = [str(ALERT_RULES)]
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "driftd"
    assert job["static_configs"] == [{"targets": ["driftd:9108"]}]
    job["static_configs"] = [{"targets": [target]}]
    path.write_text(yaml.safe_dump(config))


class Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data
        return list(data["result"])


@contextlib.contextmanager
def running_prometheus(workdir: Path, target: str) -> Iterator[Prometheus]:
    config = workdir / "prometheus.yml"
    prometheus_config(config, target)
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    try:
        yield Prometheus(port)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_until(condition: Any, timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            last = condition()
            if last is True:
                return
        time.sleep(0.25)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
    raise AssertionError(f"{what} not within {timeout_s} s (last: {last})\n{tail}")


def traffic() -> tuple[dict[str, np.ndarray], list[bytes], list[Any]]:
    """The events as columns and encoded (the second window drifted), and malformed ones."""
    generator = TrafficGenerator(
        FEATURES, seed=23, model=MODEL, drifts=(MeanShift("debt_to_income", 2.0, WARMUP + WINDOW),)
    )
    batch = generator.batch(EVENTS)
    columns = {name: np.asarray(batch[name], dtype=float) for name in NUMERIC}
    malformed = generator.malformed(MALFORMED, np.random.default_rng(8), LIMITS)
    return columns, generator.encode_events(batch), malformed


def by_label(samples: list[dict[str, Any]], label: str) -> dict[str, float]:
    return {s["metric"][label]: float(s["value"][1]) for s in samples}


def test_prometheus_scrapes_the_counters_and_drift_gauges(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    columns, events, malformed = traffic()
    topics = {name: unique(name) for name in ("events", "dead", "alerts", "review")}
    create_topics(broker.bootstrap, dict.fromkeys(topics.values(), 1))
    config = write_config(
        tmp_path / "driftd.yaml",
        broker.bootstrap,
        {
            "topics": {
                "features": topics["events"],
                "predictions": None,
                "labels": None,
                "dead_letter": topics["dead"],
                "alerts": topics["alerts"],
                "review": topics["review"],
            },
            "kafka": {"consumer": {"group_id": unique("prometheus")}},
            "limits": {"max_message_bytes": LIMITS.max_message_bytes},
        },
    )
    config["models"] = {
        MODEL: {
            "features": features_config(FEATURES),
            "reference": {"warmup_events": WARMUP},
            "windows": [{"type": "tumbling", "size": WINDOW}],
        }
    }
    (tmp_path / "driftd.yaml").write_text(yaml.safe_dump(config))
    port = int(config["server"]["port"])

    # Independent expectations: counts from the traffic, KS statistics from scipy on the
    # reference (the first WARMUP events) against the last window.
    reasons = Counter(m.reason for m in malformed)
    expected_dead = {reason: float(reasons.get(reason, 0)) for reason in Reasons.all()}
    last_window = slice(WARMUP + WINDOW, EVENTS)
    expected_ks = {
        name: float(stats.ks_2samp(values[:WARMUP], values[last_window]).statistic)
        for name, values in columns.items()
    }
    # The shift is large, the other features are unchanged: the verdicts are not in doubt.
    assert expected_ks["debt_to_income"] > 0.5
    assert max(expected_ks["income"], expected_ks["age"]) < 0.2

    key = MODEL.encode()
    messages = [(topics["events"], key, value) for value in events[:50]]
    messages += [(topics["events"], key, m.payload) for m in malformed]
    messages += [(topics["events"], key, value) for value in events[50:]]

    with (
        running_daemon(tmp_path / "driftd.yaml", port, tmp_path / "daemon.log") as daemon,
        running_prometheus(tmp_path, f"127.0.0.1:{port}") as prometheus,
    ):
        daemon.wait_ready()
        log = tmp_path / "prometheus.log"

        def target_up() -> bool | list[Any]:
            targets = prometheus.get("/api/v1/targets")["activeTargets"]
            return [t["health"] for t in targets] == ["up"] or targets

        wait_until(target_up, 30, "the driftd target up", log)
        produce(broker.bootstrap, messages)
        job = '{job="driftd"}'
        labels = f'{{job="driftd", model="{MODEL}", window="tumbling-{WINDOW}", test="ks"}}'

        def observed() -> dict[str, Any]:
            events_by_join = by_label(prometheus.query(f"driftd_events_total{job}"), "join")
            return {
                "records": by_label(
                    prometheus.query(f"driftd_records_consumed_total{job}"), "topic"
                ),
                "events": events_by_join.get("complete"),
                "windows": sum(
                    by_label(
                        prometheus.query(f"driftd_windows_evaluated_total{job}"), "window"
                    ).values()
                ),
                "dead": by_label(prometheus.query(f"driftd_dead_letters_total{job}"), "reason"),
                "ks": by_label(prometheus.query(f"driftd_drift_statistic{labels}"), "feature"),
                "detected": by_label(prometheus.query(f"driftd_drift_detected{labels}"), "feature"),
            }

        last: dict[str, Any] = {}

        def windows_scraped() -> bool | dict[str, Any]:
            last.clear()
            last.update(observed())
            return last["windows"] == 2 or last

        wait_until(windows_scraped, 60, "both windows in Prometheus", log)
        # Both windows closed before this scrape; the counters are final once the
        # dead letters are in too (they are counted in the same batches).
        wait_until(
            lambda: observed()["dead"] == expected_dead or observed(),
            10,
            "every dead letter in Prometheus",
            log,
        )
        final = observed()
        assert final["records"] == {topics["events"]: float(EVENTS + MALFORMED)}
        assert final["events"] == float(EVENTS)
        assert final["dead"] == expected_dead
        assert set(final["ks"]) >= {*NUMERIC, "prediction.score"}
        for name in NUMERIC:
            assert final["ks"][name] == pytest.approx(expected_ks[name], rel=1e-12), name
        assert final["detected"]["debt_to_income"] == 1.0
        assert final["detected"]["income"] == 0.0
        assert final["detected"]["age"] == 0.0

        # The alert rules loaded and evaluate without error against the live series.
        groups = prometheus.get("/api/v1/rules")["groups"]
        loaded = sorted(rule["name"] for group in groups for rule in group["rules"])
        assert loaded == sorted(rule["alert"] for rule in load_rules())
        wait_until(
            lambda: all(
                r["health"] == "ok"
                for g in prometheus.get("/api/v1/rules")["groups"]
                for r in g["rules"]
            ),
            10,
            "every rule evaluated",
            log,
        )
        firing = prometheus.query('ALERTS{alertstate="firing"}')
        assert firing == [], firing
