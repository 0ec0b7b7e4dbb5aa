"""yamllint --strict on every YAML file, hadolint on every Dockerfile, ruff on the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: uv sync installs the dev group"
    return found


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(set(out.split()))


YAML_FILES = _tracked("*.yml", "*.yaml", ".yamllint")
DOCKERFILES = _tracked("Dockerfile", "**/Dockerfile", "**/Dockerfile.*")


def test_there_is_yaml_to_lint():
    assert "docker-compose.yml" in YAML_FILES


@pytest.mark.parametrize("path", YAML_FILES)
def test_yamllint_strict(path):
    result = subprocess.run(
        [_tool("yamllint"), "--strict", "--format", "parsable", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES)
def test_hadolint(path):
    result = subprocess.run(
        [_tool("hadolint"), "--config", str(ROOT / ".hadolint.yaml"), path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES)
def test_dockerfile_never_pulls_a_frontend(path):
    # A `# syntax=` line makes BuildKit pull a frontend image: impossible without a registry.
    first_lines = (ROOT / path).read_text().splitlines()[:5]
    assert not any(line.lower().startswith("# syntax") for line in first_lines)


def test_ruff_check():
    result = subprocess.run([_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format():
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
