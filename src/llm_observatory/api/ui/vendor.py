"""Third-party front-end files (Swagger UI, GraphiQL, React, uPlot), served by the stack.

They come from npm at build time (assets/package.json, its lock file pins each
version and hash) and are never committed. `vendorFiles` in package.json is the one
list of files served: the image build copies exactly those (this module, run as a
script: `python vendor.py copy node_modules DEST`), and the API serves nothing else
from the directory, under /ui/vendor/<path in node_modules>.

Stdlib only: the image's asset stage runs this file before any package is installed.
"""

from __future__ import annotations

import json
import shutil
import sys
from functools import cache
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
MANIFEST = ASSETS / "package.json"
URL_PREFIX = "/ui/vendor/"


@cache
def vendor_files() -> frozenset[str]:
    """Paths under node_modules the API may serve (package.json `vendorFiles`)."""
    return frozenset(json.loads(MANIFEST.read_text())["vendorFiles"])


def assets_dir(configured: str) -> Path:
    """UI_ASSETS_DIR, or node_modules beside package.json (`npm ci` there)."""
    return Path(configured) if configured else ASSETS / "node_modules"


def url(path: str) -> str:
    """/ui/vendor/<path>; refuses a path package.json does not list (a typo in a template)."""
    if path not in vendor_files():
        raise KeyError(f"{path} is not in {MANIFEST.name}'s vendorFiles")
    return URL_PREFIX + path


def missing(directory: Path) -> list[str]:
    return sorted(path for path in vendor_files() if not (directory / path).is_file())


def copy(source: Path, destination: Path) -> None:
    """Copy the listed files from an installed node_modules; fail naming any missing one."""
    absent = missing(source)
    if absent:
        raise SystemExit(f"not in {source}: {', '.join(absent)} (did npm ci run?)")
    for path in sorted(vendor_files()):
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / path, target)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "copy":
        raise SystemExit("usage: python vendor.py copy NODE_MODULES DESTINATION")
    copy(Path(sys.argv[2]), Path(sys.argv[3]))
