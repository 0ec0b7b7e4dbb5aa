"""Policies every compose file keeps, checked on the files as written and as resolved."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

import tasks
from llm_observatory.core.settings import DEVELOPMENT_SECRETS, JwtSettings
from tests.support.compose_files import (
    COMPOSE_FILES,
    ROOT,
    VARIABLE,
    clean_env,
    env_example,
    raw,
    resolved,
)

MODES = {
    mode: tuple(files)
    for mode, files in tasks.MODES.items()
    if all((ROOT / name).exists() for name in files)
}
# (service, container port) people use; every other published port is an operator's.
USER_FACING = {
    ("collector", 4317),
    ("collector", 4318),
    ("api", 8080),
    ("grafana", 3000),
    ("pgadmin", 80),
}
# Services that do one job and exit: they need no healthcheck.
ONE_SHOT_RESTART = {"no", "on-failure"}
LOCALHOST = "127.0.0.1"


def _services(files: tuple[str, ...]) -> dict[str, dict]:
    return resolved(files)["services"]


def test_every_mode_with_its_files_is_tested():
    assert {"base", "test"} <= set(MODES)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_compose_config_quiet(mode):
    command = [*tasks.compose_command(mode, "").split(), "--profile", "*", "config", "--quiet"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("mode", sorted(MODES))
def test_images_pinned_to_exact_versions(mode):
    for name, service in _services(MODES[mode]).items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        image = service["image"]
        if "build" in service:  # our own image, tagged by us
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag, f"{name}: image {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), (
            f"{name}: {image} is not pinned to an exact version"
        )


@pytest.mark.parametrize("mode", sorted(MODES))
def test_long_running_services_have_healthchecks(mode):
    for name, service in _services(MODES[mode]).items():
        if service.get("restart", "no") in ONE_SHOT_RESTART:
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check.get("start_period"), f"{name}: healthcheck without start_period"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_memory_limits_and_log_rotation(mode):
    for name, service in _services(MODES[mode]).items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("memory"), f"{name} has no memory limit"
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", f"{name}: logging driver is not json-file"
        assert logging.get("options", {}).get("max-size"), f"{name}: logs are not rotated"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_nothing_privileged(mode):
    for name, service in _services(MODES[mode]).items():
        assert not service.get("privileged"), f"{name} is privileged"
        assert "SYS_ADMIN" not in service.get("cap_add", []), f"{name} adds SYS_ADMIN"


@pytest.mark.parametrize("mode", sorted(MODES))
def test_published_ports_bind_to_localhost_by_default(mode):
    for name, service in _services(MODES[mode]).items():
        for port in service.get("ports", []):
            if port.get("published"):
                assert port.get("host_ip") == LOCALHOST, (
                    f"{name} publishes {port} beyond {LOCALHOST}"
                )


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_published_ports_are_written_with_their_bind_address(path):
    """Ports people use on BIND_ADDRESS, every other one on OPERATOR_BIND_ADDRESS."""
    for name, service in (raw(path).get("services") or {}).items():
        for port in service.get("ports", []) or []:
            text = port if isinstance(port, str) else str(port.get("host_ip", ""))
            target = int(_with_defaults(text).rsplit(":", 1)[1].split("/")[0])
            variable = "BIND_ADDRESS" if (name, target) in USER_FACING else "OPERATOR_BIND_ADDRESS"
            assert text.startswith(f"${{{variable}:-127.0.0.1}}:"), (
                f"{path.name}:{name}: {port} must bind to {variable}"
            )


def _with_defaults(text: str) -> str:
    """A compose string with each ${VAR:-default} replaced by its default."""
    return VARIABLE.sub(lambda m: m.group(2) or "", text)


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_depends_on_names_a_condition(path):
    for name, service in (raw(path).get("services") or {}).items():
        depends = service.get("depends_on")
        if depends is None:
            continue
        assert isinstance(depends, dict), f"{path.name}:{name}: depends_on must be a mapping"
        for dependency, spec in depends.items():
            assert isinstance(spec, dict) and spec.get("condition"), (
                f"{path.name}:{name} -> {dependency} names no condition"
            )


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_every_variable_is_documented_in_env_example(path):
    documented = set(env_example())
    # Set by tests and tools, not by users; documented where they are used.
    internal = {name for name in used_names(path) if name.startswith("TEST_")}
    used = used_names(path)
    missing = sorted(used - documented - internal)
    assert not missing, f"{path.name} uses variables .env.example does not document: {missing}"


def used_names(path) -> set[str]:
    return {match.group(1) for match in VARIABLE.finditer(path.read_text())}


def test_image_pins_agree_with_env_example():
    pins = env_example()
    text = (ROOT / "docker-compose.yml").read_text()
    defaults = {m.group(1): m.group(2) for m in VARIABLE.finditer(text) if m.group(2)}
    image_vars = {name for name in defaults if name.endswith("_IMAGE")}
    assert image_vars, "no *_IMAGE variables in docker-compose.yml"
    for name in image_vars:
        assert pins.get(name) == defaults[name], (
            f"{name}: compose default {defaults[name]} != .env.example {pins.get(name)}"
        )


def test_backend_network_is_internal():
    networks = raw(ROOT / "docker-compose.yml")["networks"]
    assert networks["backend"].get("internal") is True
    assert not networks["frontend"].get("internal")


def test_database_and_cache_are_not_published_in_base():
    for name in ("timescaledb", "redis"):
        assert not _services(MODES["base"])[name].get("ports"), f"{name} is published"


def test_modes_sharing_a_project_never_share_an_image_name_for_different_targets():
    """base, dev, debug and prod run under one project name: an image one mode builds
    must not be started by another with a different build target (dev's image in base
    mode ran the CLI's help instead of the service)."""
    shared = [mode for mode in MODES if mode != "test"]
    built: dict[str, set[str]] = {}
    for mode in shared:
        for name, service in _services(MODES[mode]).items():
            if "build" not in service:
                continue
            image = service.get("image") or f"policy-{name}"
            built.setdefault(image, set()).add(service["build"].get("target", ""))
    clashes = {image: targets for image, targets in built.items() if len(targets) > 1}
    assert not clashes, f"one image name, several build targets: {clashes}"


# ---------------------------------------------------------------------------
# Security: bind addresses, internal services, production hardening, secrets
# ---------------------------------------------------------------------------

PROD = ("docker-compose.yml", "docker-compose.prod.yml")
DOCS = ROOT / "docs" / "ARCHITECTURE_DOCKER.md"
WRITABLE_ROOT = "writable root"


def _resolved_with(files: tuple[str, ...], **env: str) -> dict:
    command = ["docker", "compose", "--project-name", "policy"]
    for name in files:
        command += ["-f", name]
    command += ["--profile", "*", "config", "--format", "json"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env={**clean_env(), **env}
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["services"]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_opening_bind_address_leaves_operator_ports_on_localhost(mode):
    services = _resolved_with(MODES[mode], BIND_ADDRESS="0.0.0.0")  # noqa: S104
    opened = set()
    for name, service in services.items():
        for port in service.get("ports", []):
            if (name, port["target"]) in USER_FACING:
                opened.add(name)
                assert port["host_ip"] == "0.0.0.0", (name, port)  # noqa: S104
            else:
                assert port["host_ip"] == LOCALHOST, f"{mode}: {name} publishes {port}"
    assert {"collector", "api"} <= opened


def test_operator_bind_address_moves_only_operator_ports():
    services = _resolved_with(MODES["base"], OPERATOR_BIND_ADDRESS="10.1.2.3")
    hosts = {
        (name, port["target"]): port["host_ip"]
        for name, service in services.items()
        for port in service.get("ports", [])
    }
    assert hosts[("prometheus", 9090)] == hosts[("collector", 9090)] == "10.1.2.3"
    assert hosts[("jaeger", 16686)] == hosts[("api", 9090)] == "10.1.2.3"
    assert hosts[("collector", 4318)] == hosts[("api", 8080)] == LOCALHOST


@pytest.mark.parametrize("mode", ["base", "prod", "dev", "test"])
def test_storage_is_published_only_in_dev_and_test_modes(mode):
    ports = _services(MODES[mode])["storage"].get("ports", [])
    if mode in {"base", "prod"}:
        assert not ports, f"{mode} publishes storage: {ports}"
    else:
        assert {port["target"] for port in ports} == {8080, 9090}
        assert all(port["host_ip"] == LOCALHOST for port in ports)


def documented_exceptions() -> dict[str, set[str]]:
    """The hardening exceptions table of docs/ARCHITECTURE_DOCKER.md: service -> what."""
    text = DOCS.read_text()
    section = text.split("### Hardening exceptions", 1)[1].split("\n#", 1)[0]
    table = {}
    for line in section.splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in {"service", ""} or set(cells[0]) <= set("-: "):
            continue
        what = set(re.findall(r"\b[A-Z][A-Z_]+\b", cells[1]))
        if WRITABLE_ROOT in cells[1]:
            what.add(WRITABLE_ROOT)
        table[cells[0]] = what
    return table


def actual_exceptions() -> dict[str, set[str]]:
    found = {}
    for name, service in _services(PROD).items():
        what = set(service.get("cap_add", []))
        if service.get("read_only") is not True:
            what.add(WRITABLE_ROOT)
        if what:
            found[name] = what
    return found


def test_every_prod_service_is_hardened():
    """read-only root, no capabilities, no-new-privileges, CPU and memory limits, and a
    start only after the preflight, for each service; exceptions only as documented."""
    allowed = documented_exceptions()
    for name, service in _services(PROD).items():
        exceptions = allowed.get(name, set())
        if WRITABLE_ROOT not in exceptions:
            assert service.get("read_only") is True, f"{name}: root filesystem is writable"
        assert service.get("cap_drop") == ["ALL"], f"{name} keeps capabilities"
        assert set(service.get("cap_add", [])) <= exceptions, f"{name} adds capabilities"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"{name}: no CPU or memory limit"
        if name != "preflight":
            waits = service.get("depends_on", {}).get("preflight", {})
            assert waits.get("condition") == "service_completed_successfully", name
    assert len(_services(PROD)) >= 15


def test_hardening_exceptions_are_exactly_the_documented_ones():
    assert actual_exceptions() == documented_exceptions()


def test_the_preflight_runs_first_without_network_or_volumes():
    preflight = _services(PROD)["preflight"]
    assert preflight["command"] == ["check-production"]
    assert preflight["build"]["target"] == "cli"
    assert preflight.get("network_mode") == "none"
    assert not preflight.get("volumes") and not preflight.get("ports")
    assert not preflight.get("depends_on") and not preflight.get("profiles")
    assert preflight["restart"] == "no"


def test_the_preflight_gets_every_development_secret():
    environment = raw(ROOT / "docker-compose.prod.yml")["services"]["preflight"]["environment"]
    missing = sorted(set(DEVELOPMENT_SECRETS) - set(environment))
    assert not missing, f"the preflight does not check {missing}"


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name)
def test_secret_defaults_are_the_development_secrets(path):
    """Every ${SECRET:-default} falls back to exactly what production refuses."""
    for match in VARIABLE.finditer(path.read_text()):
        name, default = match.group(1), match.group(2)
        if name in DEVELOPMENT_SECRETS and default is not None:
            assert default == DEVELOPMENT_SECRETS[name], f"{path.name}: {match.group(0)}"


def test_jwt_defaults_in_compose_are_the_settings_defaults():
    text = (ROOT / "docker-compose.yml").read_text()
    fields = JwtSettings.model_fields
    for match in VARIABLE.finditer(text):
        name = match.group(1)
        if name.startswith("JWT_") and name != "JWT_SECRET":
            assert str(fields[name.lower()].default) == (match.group(2) or ""), match.group(0)


def test_prod_prometheus_has_no_lifecycle_api_and_otherwise_the_base_flags():
    base = _services(MODES["base"])["prometheus"]["command"]
    prod = _services(PROD)["prometheus"]["command"]
    assert "--web.enable-lifecycle" in base
    assert prod == [flag for flag in base if flag != "--web.enable-lifecycle"]


def test_prod_turns_our_services_to_production():
    for name in ("storage", "maintenance", "collector", "api", "cli", "backup", "sdk-playground"):
        assert _services(PROD)[name]["environment"]["ENVIRONMENT"] == "production", name


# docker-compose.test.yml includes the base file: after `-f docker-compose.yml` Compose
# would merge the base a second time over the test settings (fixed ports, the data
# volume back), silently. Nothing we ship may tell anyone to run that.
DOUBLE_BASE = re.compile(
    r"-f\s+docker-compose\.yml(?:\s+\\?\s*-f\s+\S+)*\s+\\?\s*-f\s+docker-compose\.test\.yml"
)


def _shipped_text_files() -> list:
    patterns = ("*.md", "docs/**/*.md", "docker/**/*.md", "tests/**/*.py", "*.py", ".ci/*")
    files = {path for pattern in patterns for path in ROOT.glob(pattern) if path.is_file()}
    files |= set(COMPOSE_FILES)
    return sorted(p for p in files if "node_modules" not in p.parts)


def test_nothing_loads_the_base_file_before_the_test_file():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _shipped_text_files()
        if path != Path(__file__) and DOUBLE_BASE.search(path.read_text(errors="replace"))
    ]
    assert not offenders, f"use `-f docker-compose.test.yml` alone: {offenders}"
