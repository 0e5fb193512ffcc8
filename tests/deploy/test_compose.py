"""deploy/docker-compose.yml agrees with the files it mounts and with driftd's config.

Docker cannot run here, so the compose file is read as data: every bind-mounted file
exists, and every port, address and topic name one service uses for another is the one
that service's configuration declares — driftd's metrics port and Kafka address
(deploy/driftd.yaml), the Prometheus scrape target and rule files (deploy/prometheus.yml),
the Grafana datasource and dashboard provider (deploy/grafana/), and the topics the
``topics`` service creates.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from monitor.cli import build_parser
from monitor.config import Config
from monitor.config_loader import load_config
from monitor.demo.traffic import DEMO_FEATURES, features_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SERVICES = {"kafka", "topics", "driftd", "traffic", "prometheus", "grafana"}
PROMETHEUS_PORT = 9090  # the port the prom/prometheus image listens on
GRAFANA_PORT = 3000


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data["services"]


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (resolved against the compose file's directory)."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        assert mode == ["ro"], f"{volume}: mount read-only"
        assert source.startswith("."), f"{volume}: a bind mount of a repository file"
        found[target] = (DEPLOY / source).resolve()
    return found


def published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port."""
    ports = {}
    for spec in service.get("ports", []):
        host, container = str(spec).split(":")
        ports[int(container)] = int(host)
    return ports


def config_of(service: dict[str, Any]) -> tuple[Path, Config]:
    """The driftd config a driftd-image service runs with: its ``-c`` file, mounted."""
    args = build_parser().parse_args(service["command"])
    target = args.config
    host = mounts(service)[target]
    return host, load_config(host)


def created_topics(command: str) -> dict[str, tuple[int, str]]:
    """Topic -> (partitions, extra options) from the ``topics`` service's shell script."""
    topics: dict[str, tuple[int, str]] = {}
    names: list[str] = []
    for line in (raw.strip() for raw in command.splitlines()):
        loop = re.fullmatch(r"for t in (.+); do", line)
        if loop:
            names = loop.group(1).split()
            continue
        if "kafka-topics.sh" not in line:
            continue
        words = shlex.split(line)
        assert "--create" in words
        assert words[words.index("--bootstrap-server") + 1] == "kafka:9092"
        topic = words[words.index("--topic") + 1]
        partitions = int(words[words.index("--partitions") + 1])
        extra = " ".join(words[words.index("--partitions") + 2 :])
        for name in names if topic == "$$t" else [topic]:
            topics[name] = (partitions, extra)
    return topics


def test_the_stack_has_every_service_with_pinned_images() -> None:
    services = compose()
    assert set(services) == SERVICES
    for name, service in services.items():
        if "build" in service:
            assert service["build"] == ".."
            assert (DEPLOY / service["build"] / "Dockerfile").is_file()
        else:
            image = service["image"]
            assert ":" in image, f"{name}: pin the image version"
            assert not image.endswith(":latest"), name


def test_every_mounted_file_exists() -> None:
    for name, service in compose().items():
        for target, host in mounts(service).items():
            assert host.is_file(), f"{name}: {host} (mounted at {target}) does not exist"
            assert ROOT in host.parents, f"{name}: {host} is outside the repository"


def test_driftd_listens_where_it_is_published_and_reads_the_kafka_of_the_stack() -> None:
    services = compose()
    path, config = config_of(services["driftd"])
    assert path == DEPLOY / "driftd.yaml"
    assert config.server.enabled
    assert config.server.host == "0.0.0.0"  # reachable from the other containers
    assert published(services["driftd"]) == {config.server.port: config.server.port}
    kafka_env = services["kafka"]["environment"]
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://")
    assert list(config.kafka.bootstrap_servers) == [advertised] == ["kafka:9092"]
    assert published(services["kafka"]) == {9092: 9092}
    assert services["driftd"]["depends_on"]["topics"] == {
        "condition": "service_completed_successfully"
    }


def test_the_created_topics_are_those_of_the_driftd_config() -> None:
    services = compose()
    _, config = config_of(services["driftd"])
    (script,) = services["topics"]["command"]
    topics = created_topics(script)
    declared = {t for t in config.topics.model_dump().values() if t} | {config.state_topic}
    assert set(topics) == declared
    inputs = {topics[t][0] for t in config.topics.inputs}
    # One task per input partition number: every input topic has the same count, and the
    # state topic one partition per task, compacted (only the newest checkpoint matters).
    assert len(inputs) == 1
    assert topics[config.state_topic] == (inputs.pop(), "--config cleanup.policy=compact")
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_traffic_generator_writes_to_the_topics_driftd_reads() -> None:
    services = compose()
    traffic = services["traffic"]
    args = build_parser().parse_args(traffic["command"])
    assert args.func.__name__ == "_cmd_traffic"
    assert args.compression in {"gzip", "snappy", "lz4", "zstd"}  # as production topics
    assert args.rate > 0
    path, config = config_of(traffic)
    driftd_path, driftd_config = config_of(services["driftd"])
    assert path == driftd_path
    assert config.topics.inputs == driftd_config.topics.inputs
    assert traffic["image"] == services["driftd"]["image"]
    # The generator's model and features are the ones driftd monitors.
    model = config.models["credit-risk"]
    expected = features_config(DEMO_FEATURES)
    assert {n: f.type for n, f in model.features.items()} == {
        n: f["type"] for n, f in expected.items()
    }


def test_prometheus_scrapes_driftd_and_loads_the_alert_rules() -> None:
    services = compose()
    prometheus = services["prometheus"]
    mounted = mounts(prometheus)
    scrape_path = mounted["/etc/prometheus/prometheus.yml"]
    assert scrape_path == DEPLOY / "prometheus.yml"
    scrape = yaml.safe_load(scrape_path.read_text(encoding="utf-8"))
    _, config = config_of(services["driftd"])
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "driftd"  # the job config/prometheus/alerts.yml selects
    assert job["static_configs"] == [{"targets": [f"driftd:{config.server.port}"]}]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    rules = [mounted[PurePosixPath(f).as_posix()] for f in scrape["rule_files"]]
    assert rules == [ROOT / "config" / "prometheus" / "alerts.yml"]
    assert published(prometheus) == {PROMETHEUS_PORT: PROMETHEUS_PORT}


def test_grafana_reads_the_stack_prometheus_and_provisions_the_dashboard() -> None:
    services = compose()
    grafana = services["grafana"]
    mounted = mounts(grafana)
    sources = {t: h for t, h in mounted.items() if "/provisioning/datasources/" in t}
    providers = {t: h for t, h in mounted.items() if "/provisioning/dashboards/" in t}
    assert all(t.startswith("/etc/grafana/provisioning/") for t in [*sources, *providers])
    (source_file,) = sources.values()
    (datasource,) = yaml.safe_load(source_file.read_text(encoding="utf-8"))["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{PROMETHEUS_PORT}"
    assert datasource["isDefault"] is True

    (provider_file,) = providers.values()
    (provider,) = yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]
    dashboards = {t: h for t, h in mounted.items() if t.endswith(".json")}
    assert dashboards == {
        f"{provider['options']['path']}/driftd.json": ROOT / "config" / "grafana" / "driftd.json"
    }
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home in dashboards
    dashboard = json.loads(dashboards[home].read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    # The dashboard's datasource variable offers datasources of the provisioned type.
    assert variables["datasource"]["query"] == datasource["type"]
    assert published(grafana) == {GRAFANA_PORT: GRAFANA_PORT}


@pytest.mark.parametrize("service", ["driftd", "traffic"])
def test_the_driftd_image_services_pass_check_config(service: str) -> None:
    args = build_parser().parse_args(["check-config", str(config_of(compose()[service])[0])])
    assert args.func(args) == 0
