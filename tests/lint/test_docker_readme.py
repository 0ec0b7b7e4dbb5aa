"""docker/README.md names what docker/ holds and the targets docker/Dockerfile builds."""

from __future__ import annotations

import re

import tasks
from tests.support.compose_files import ROOT, resolved

DOCKER = ROOT / "docker"
README = DOCKER / "README.md"
# A table row's first cell: one or more `backticked` names.
FIRST_CELL = re.compile(r"^\|\s*([^|]+?)\s*\|")
NAME = re.compile(r"`([^`]+)`")


def section_rows(title: str) -> list[list[str]]:
    """The backticked names in the first cell of each row of a section's table."""
    text = README.read_text()
    assert f"## {title}" in text, f"docker/README.md has no section {title!r}"
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        match = FIRST_CELL.match(line.strip())
        if match and not set(match.group(1)) <= set("-: "):
            rows.append(NAME.findall(match.group(1)))
    return [names for names in rows if names]


def named_paths() -> list[str]:
    return [names[0] for names in section_rows("Files")]


def test_every_named_path_exists():
    missing = [name for name in named_paths() if not (DOCKER / name).exists()]
    assert not missing, f"docker/README.md names what docker/ does not hold: {missing}"


def test_every_file_in_docker_is_named():
    names = named_paths()
    directories = [name for name in names if name.endswith("/")]
    unnamed = []
    for path in sorted(DOCKER.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(DOCKER).as_posix()
        if relative not in names and not any(relative.startswith(d) for d in directories):
            unnamed.append(relative)
    assert not unnamed, f"docker/README.md does not name: {unnamed}"


def dockerfile_targets() -> set[str]:
    text = (DOCKER / "Dockerfile").read_text()
    return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.MULTILINE | re.IGNORECASE))


def test_every_listed_target_is_built_and_every_image_target_listed():
    listed = {name for names in section_rows("Dockerfile targets") for name in names}
    targets = dockerfile_targets()
    assert listed <= targets, f"listed but not in docker/Dockerfile: {sorted(listed - targets)}"
    # Stages other stages build on are described in prose; every image a service runs
    # (a target some compose file builds) is in the table.
    compose_targets = {
        service["build"]["target"]
        for files in tasks.MODES.values()
        for service in resolved(tuple(files))["services"].values()
        if "build" in service
    }
    assert compose_targets <= listed, f"not listed: {sorted(compose_targets - listed)}"
