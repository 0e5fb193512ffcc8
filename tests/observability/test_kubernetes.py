"""The Kubernetes manifest: driftd as a native sidecar of a model server, configured right."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from monitor.config import Config
from monitor.config_loader import parse_config
from tests.observability.promql import MANIFEST


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one object of each kind"
    assert set(by_kind) >= {"ConfigMap", "Secret", "Deployment"}
    for doc in docs:
        assert doc["apiVersion"] and doc["metadata"]["name"]
    return by_kind


@pytest.fixture(scope="module")
def pod(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    deployment = documents["Deployment"]
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= template["metadata"]["labels"].items()
    spec: dict[str, Any] = template["spec"]
    return {"metadata": template["metadata"], **spec}


def sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    (driftd,) = [c for c in pod.get("initContainers", []) if c["name"] == "driftd"]
    return driftd


@pytest.fixture
def config(
    documents: dict[str, dict[str, Any]], pod: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Config:
    """The ConfigMap's driftd config, loaded as driftd would with the Secret in its env."""
    secret = documents["Secret"]
    for variable in sidecar(pod)["env"]:
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == secret["metadata"]["name"]
            monkeypatch.setenv(variable["name"], secret["stringData"][ref["key"]])
    return parse_config(documents["ConfigMap"]["data"]["driftd.yaml"], source="ConfigMap")


def port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_driftd_is_a_native_sidecar_of_the_model_server(pod: dict[str, Any]) -> None:
    driftd = sidecar(pod)
    assert driftd["restartPolicy"] == "Always"
    assert all(c["name"] != "driftd" for c in pod["containers"])
    assert len(pod["containers"]) >= 1  # the model server
    assert driftd["args"][:2] == ["run", "-c"]


def test_probes_point_at_healthz_and_readyz_on_the_server_port(
    pod: dict[str, Any], config: Config
) -> None:
    driftd = sidecar(pod)
    assert config.server.host == "0.0.0.0"
    ports = {port_number(driftd, p["name"]) for p in driftd["ports"]}
    assert config.server.port in ports
    expected = {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": None}
    for probe_name, path in expected.items():
        probe = driftd[probe_name]["httpGet"]
        assert port_number(driftd, probe["port"]) == config.server.port, probe_name
        if path is not None:
            assert probe["path"] == path, probe_name
    # Starting needs the process up, not Kafka: a broker outage must not block the pod.
    assert driftd["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_prometheus_scrapes_the_server_port(pod: dict[str, Any], config: Config) -> None:
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(config.server.port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_config_mounted_where_driftd_reads_it(pod: dict[str, Any], documents: Any) -> None:
    driftd = sidecar(pod)
    config_file = driftd["args"][2]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [
        m
        for m in driftd["volumeMounts"]
        if config_file.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert len(mounts) == 1, config_file
    volume = volumes[mounts[0]["name"]]
    assert volume["configMap"]["name"] == documents["ConfigMap"]["metadata"]["name"]
    assert config_file.rsplit("/", 1)[1] in documents["ConfigMap"]["data"]


def test_secrets_reach_the_config_only_through_env(
    documents: dict[str, dict[str, Any]], pod: dict[str, Any], config: Config
) -> None:
    text = documents["ConfigMap"]["data"]["driftd.yaml"]
    referenced = set(re.findall(r"\{env:\s*([A-Z0-9_]+)\}", text))
    from_secret = {
        v["name"] for v in sidecar(pod)["env"] if "secretKeyRef" in v.get("valueFrom", {})
    }
    assert referenced and referenced == from_secret
    assert config.kafka.sasl is not None and config.kafka.sasl.password is not None
    assert config.alerts.enabled
    # No secret value is written into the ConfigMap.
    for value in documents["Secret"]["stringData"].values():
        assert value not in text


def test_resources_and_security(pod: dict[str, Any]) -> None:
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    for container in [*pod["initContainers"], *pod["containers"]]:
        name = container["name"]
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert security.get("readOnlyRootFilesystem") is True, name
