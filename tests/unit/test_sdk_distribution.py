"""The SDK is its own distribution (packages/llm-observatory-sdk): what installing it
brings is OpenTelemetry and nothing of the server.

Read from uv.lock, the install set every `uv sync` and image build uses, and from
the SDK's sources. tests/smoke/test_sdk.py installs the built wheel into a fresh
virtual environment with pip and runs the documented example from there.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

from tests.support.sdk_dependencies import ROOT, SERVER_ONLY, locked_closure, locked_packages

SDK = ROOT / "packages" / "llm-observatory-sdk"
SDK_SOURCES = SDK / "src" / "llm_observatory" / "sdk"


def test_the_sdk_depends_on_opentelemetry_only():
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    names = {
        requirement.split(">")[0].split("=")[0].strip() for requirement in project["dependencies"]
    }
    assert names == {
        "opentelemetry-api",
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-grpc",
        "opentelemetry-exporter-otlp-proto-http",
    }
    assert "optional-dependencies" not in project


def test_installing_the_sdk_installs_nothing_of_the_server():
    installed = locked_closure("llm-observatory-sdk")
    assert "opentelemetry-sdk" in installed and "grpcio" in installed  # the walk works
    assert installed & SERVER_ONLY == set()


def test_the_server_gets_the_sdk_only_with_the_playground():
    """The service images (no extra) carry no SDK; the playground's extra does."""
    server = locked_packages()["llm-observatory"]
    assert "llm-observatory-sdk" not in {d["name"] for d in server["dependencies"]}
    playground = {d["name"] for d in server["optional-dependencies"]["playground"]}
    assert "llm-observatory-sdk" in playground


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_the_sdk_imports_only_the_standard_library_opentelemetry_and_itself():
    files = sorted(SDK_SOURCES.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "calls.py", "export.py"}
    for path in files:
        for module in _imports(path):
            top = module.split(".")[0]
            allowed = (
                top in sys.stdlib_module_names
                or top == "opentelemetry"
                or module == "llm_observatory.sdk"
                or module.startswith("llm_observatory.sdk.")
            )
            assert allowed, f"{path.name} imports {module}"


def test_the_sdk_ships_no_package_init_of_the_shared_namespace():
    """llm_observatory/__init__.py belongs to the server's wheel: two would collide."""
    assert not (SDK / "src" / "llm_observatory" / "__init__.py").exists()
    shipped = [p.name for p in (SDK / "src" / "llm_observatory").iterdir()]
    assert [name for name in shipped if name != "__pycache__"] == ["sdk"]
