"""Policies every compose file keeps, checked on the files as written and as resolved."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from compose_files import (
    COMPOSE_FILES,
    ROOT,
    VARIABLE,
    clean_env,
    env_example,
    raw,
    resolved,
)

sys.path.insert(0, str(ROOT))
import tasks

MODES = {
    mode: tuple(files)
    for mode, files in tasks.MODES.items()
    if all((ROOT / name).exists() for name in files)
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
def test_published_ports_are_written_with_bind_address(path):
    for name, service in (raw(path).get("services") or {}).items():
        for port in service.get("ports", []) or []:
            text = port if isinstance(port, str) else str(port.get("host_ip", ""))
            assert text.startswith("${BIND_ADDRESS:-127.0.0.1}"), f"{path.name}:{name}: {port}"


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
