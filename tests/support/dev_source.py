"""A private copy of src/ mounted into a dev-mode stack, for tests that save source files.

Dev mode bind-mounts ./src and reloads on save. A test that saved files in the checkout
would race the person working in it (and leave their editor a changed file): it copies
src/ into a temporary directory instead, and an extra compose file mounts the copy where
./src would be. Edits go to the copy; the checkout is never written.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT

# The services docker-compose.dev.yml mounts ./src into.
DEV_SOURCE_SERVICES = ("storage", "maintenance", "collector", "api")


@dataclass(frozen=True)
class SourceCopy:
    src: Path  # the copy of the checkout's src/
    compose_file: Path  # mounts the copy over /app/src, after docker-compose.dev.yml

    def module(self, relative: str) -> Path:
        """A file of the copy, e.g. 'llm_observatory/collector/main.py'."""
        path = self.src / relative
        assert path.is_file(), f"no {relative} under src/: name a module that exists"
        return path


def copy_source(directory: Path) -> SourceCopy:
    src = directory / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    src.chmod(0o755)
    # Compose merges volumes by their target: this entry replaces the ./src one.
    lines = ["services:"]
    for service in DEV_SOURCE_SERVICES:
        lines += [f"  {service}:", "    volumes:", f"      - {src}:/app/src"]
    compose_file = directory / "compose.dev-source.yml"
    compose_file.write_text("\n".join(lines) + "\n")
    return SourceCopy(src=src, compose_file=compose_file)
