"""Parsed compose files, raw and as Compose resolves them, for the policy tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import yaml

from tests.support import ROOT
from tests.support.compose_stack import env_example  # noqa: F401 - shared with the smoke tests

COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.yml"))
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?[-?+]([^}]*))?\}")


class _ComposeLoader(yaml.SafeLoader):
    """YAML loader that accepts Compose's !reset / !override merge tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node):
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


_ComposeLoader.add_constructor("!reset", _tagged)
_ComposeLoader.add_constructor("!override", _tagged)


@cache
def raw(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_ComposeLoader) or {}  # noqa: S506 - SafeLoader subclass


def clean_env() -> dict[str, str]:
    """The environment without overrides, so Compose resolves the shipped defaults."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_IMAGE")}
    env.pop("COMPOSE_FILE", None)
    env.pop("BIND_ADDRESS", None)
    return env


@cache
def resolved(files: tuple[str, ...]) -> dict:
    command = ["docker", "compose", "--project-name", "policy"]
    for name in files:
        command += ["-f", name]
    command += ["--profile", "*", "config", "--format", "json"]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, env=clean_env(), check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
