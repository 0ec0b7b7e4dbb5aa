"""The Swarm deployment as written: docker-compose.swarm.yml and deploy/swarm/, rendered by
Compose and converted as `invoke swarm-up` does, checked without a Swarm.

The multi-node behaviour is tests/swarm's; this holds what cannot run on our CI
kernel (the encrypted backend network, the routing mesh's ingress ports) to the files.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import uuid
from functools import cache

import pytest
import yaml

import tasks
from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from tests.support.compose_files import ROOT, clean_env, raw

_spec = importlib.util.spec_from_file_location("swarm_stack", ROOT / "deploy/swarm/stack.py")
converter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(converter)

SECRETS = {name: f"s3cret-{uuid.uuid4().hex}" for name in DEVELOPMENT_SECRETS}
SECRETS["INGEST_API_KEYS"] = f"team:{uuid.uuid4().hex}"
REPLICATED = {"collector", "storage", "api"}
PINNED = {
    "timescaledb": "llmo.database",
    "timescaledb-replica": "llmo.database-replica",
    "redis": "llmo.redis",
    "grafana": "llmo.monitoring",
    "prometheus": "llmo.monitoring",
    "alertmanager": "llmo.monitoring",
    "jaeger": "llmo.monitoring",
}
# Variables that carry a secret (or a URL with a password) into a service.
SECRET_VARIABLES = {
    *DEVELOPMENT_SECRETS,
    "INGEST_API_KEYS",
    "POSTGRES_PASSWORD",
    "DATABASE_URL",
    "REDIS_URL",
    "GF_SECURITY_ADMIN_PASSWORD",
    "GF_DATABASE_PASSWORD",
}


@cache
def rendered(no_mesh: bool = False, **env: str) -> dict:
    command = [*shlex.split(tasks.swarm_config_command("llmo", no_mesh)), "config"]
    result = subprocess.run(
        [*command, "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean_env(), **SECRETS, **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@cache
def converted(no_mesh: bool = False) -> tuple[dict, dict]:
    return converter.convert(rendered(no_mesh), "llmo")


@pytest.mark.parametrize("no_mesh", [False, True], ids=["mesh", "no-mesh"])
def test_the_stack_loader_accepts_the_converted_files(no_mesh, tmp_path):
    document, _ = converted(no_mesh)
    path = tmp_path / "stack.yml"
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        ["docker", "stack", "config", "-c", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_compose_files_as_they_are_do_not_load_in_docker_stack():
    """docs/SCALING.md says why the converter exists; if a future Docker CLI loads the
    files as they are, this fails: the converter and that section can go."""
    args = [arg for name in tasks.SWARM_FILES for arg in ("-c", name)]
    result = subprocess.run(
        ["docker", "stack", "config", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "depends_on must be a list" in result.stderr
    assert "depends_on must be a list" in (ROOT / "docs" / "SCALING.md").read_text()


@pytest.mark.parametrize("no_mesh", [False, True], ids=["mesh", "no-mesh"])
def test_no_secret_reaches_a_service_spec(no_mesh):
    document, secrets = converted(no_mesh)
    text = yaml.safe_dump(document)
    assert not [name for name, value in SECRETS.items() if value in text]
    for name, service in document["services"].items():
        plain = SECRET_VARIABLES & set(service.get("environment", {}))
        assert not plain, f"{name} gets {plain} in its environment"
    # Every secret production refuses as a default is one of the Swarm secrets.
    values = set(secrets.values())
    for name in (
        "JWT_SECRET",
        "DB_PASSWORD",
        "DB_APP_PASSWORD",
        "DB_READONLY_PASSWORD",
        "DB_REPLICATION_PASSWORD",
        "REDIS_PASSWORD",
        "STORAGE_INGEST_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
        "GRAFANA_DB_PASSWORD",
        "UI_ADMIN_PASSWORD",
        "INGEST_API_KEYS",
    ):
        assert SECRETS[name] in values, name


def test_the_backend_network_is_internal_and_encrypted_in_production():
    document, _ = converted()
    backend = document["networks"]["backend"]
    assert backend["driver"] == "overlay" and backend["internal"] is True
    assert "encrypted" in backend.get("driver_opts", {})
    assert document["networks"]["frontend"]["driver"] == "overlay"


def test_the_no_mesh_variant_differs_only_where_the_kernel_forces_it():
    document, _ = converted(no_mesh=True)
    backend = document["networks"]["backend"]
    assert backend["internal"] is True and "encrypted" not in backend.get("driver_opts", {})
    for name, service in document["services"].items():
        assert service["deploy"].get("endpoint_mode") == "dnsrr", name
        for port in service.get("ports", []):
            assert port["mode"] == "host", (name, port)
    edge = document["services"]["mesh-edge"]
    assert edge["deploy"]["mode"] == "global"
    assert {p["target"] for p in edge["ports"]} == {4317, 4318, 8080, 3000}


def test_only_the_ports_people_use_are_published_and_through_the_mesh():
    document, _ = converted()
    published = {
        (name, port["target"]): port.get("mode", "ingress")
        for name, service in document["services"].items()
        for port in service.get("ports", [])
    }
    assert published == {
        ("collector", 4317): "ingress",
        ("collector", 4318): "ingress",
        ("api", 8080): "ingress",
        ("grafana", 3000): "ingress",
    }


def test_replicated_services_roll_and_roll_back_and_stateful_ones_are_pinned():
    document, _ = converted()
    services = document["services"]
    for name in REPLICATED:
        deploy = services[name]["deploy"]
        assert deploy["update_config"]["order"] == "start-first", name
        assert deploy["update_config"]["failure_action"] == "rollback", name
        assert deploy["rollback_config"]["order"] == "start-first", name
        assert deploy["restart_policy"]["condition"] == "any", name
        assert deploy["replicas"] == 2, name
    for name, label in PINNED.items():
        deploy = services[name]["deploy"]
        assert deploy["placement"]["constraints"] == [f"node.labels.{label} == true"], name
        assert deploy["update_config"]["order"] == "stop-first", name
        assert deploy["restart_policy"]["condition"] == "any", name
    assert services["timescaledb-replica"]["deploy"]["placement"]["max_replicas_per_node"] == 1
    assert "preflight" not in services and "jaeger-init" not in services


def test_images_come_from_registry_and_tag():
    model = rendered(REGISTRY="registry.example.com/team/", IMAGE_TAG="1.4.0")
    for name in ("collector", "storage", "maintenance", "api"):
        image = model["services"][name]["image"]
        assert image.startswith("registry.example.com/team/llmo-"), image
        assert image.endswith(":1.4.0"), image


def test_every_configuration_file_is_a_config():
    """Dashboards and rule files added later must reach the Swarm too."""
    swarm = raw(ROOT / "docker-compose.swarm.yml")
    files = {spec["file"].removeprefix("./") for spec in swarm["configs"].values()}
    wanted = {
        *(str(p.relative_to(ROOT)) for p in (ROOT / "docker/grafana/dashboards").glob("*.json")),
        *(str(p.relative_to(ROOT)) for p in (ROOT / "docker/prometheus/alerts").glob("*.yml")),
        "docker/init/01-init-timescaledb.sql",
        "docker/replica/entrypoint.sh",
        "docker/prometheus/alertmanager.yml",
        "docker/grafana/provisioning/dashboards/dashboards.yml",
    }
    assert wanted <= files, sorted(wanted - files)


def _without_comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.lstrip().startswith("#")]


def test_swarm_grafana_datasources_differ_only_in_the_password_source():
    compose = (ROOT / "docker/grafana/provisioning/datasources/datasources.yml").read_text()
    swarm = (ROOT / "deploy/swarm/grafana-datasources.yml").read_text()
    expected = compose.replace(
        "password: ${DB_READONLY_PASSWORD}", "password: $__file{/run/secrets/db_readonly_password}"
    )
    assert _without_comments(swarm) == _without_comments(expected)


def test_swarm_prometheus_differs_only_in_finding_each_task():
    compose = yaml.safe_load((ROOT / "docker/prometheus/prometheus.yml").read_text())
    swarm = yaml.safe_load((ROOT / "deploy/swarm/prometheus.yml").read_text())
    for job in compose["scrape_configs"]:
        target = job["static_configs"][0]["targets"][0]
        host, port = target.split(":")
        if host in {"collector", "storage", "api", "maintenance"}:
            del job["static_configs"]
            job["dns_sd_configs"] = [{"names": [f"tasks.{host}"], "type": "A", "port": int(port)}]
    assert swarm == compose
