"""`python -m llm_observatory.core.debug SCRIPT`: run a service under debugpy.

docker-compose.debug.yml starts every service this way. An IDE attaches with the
Debug Adapter Protocol on DEBUGPY_PORT (VS Code: .vscode/launch.json). With
DEBUGPY_WAIT_FOR_CLIENT=true the service waits for the IDE before it starts, to debug
start-up itself.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        sys.exit(f"usage: python -m llm_observatory.core.debug CONSOLE_SCRIPT (got {argv[1:]})")
    script = argv[1]
    found = entry_points(group="console_scripts", name=script)
    if not found:
        sys.exit(f"no console script {script!r}: is the package installed (uv sync)?")
    entry = next(iter(found))

    import debugpy

    port = int(os.environ.get("DEBUGPY_PORT", "5678"))
    # Inside a container the IDE connects through a published port, so listen on all
    # interfaces; docker-compose.debug.yml publishes it on BIND_ADDRESS only.
    debugpy.listen(("0.0.0.0", port))  # noqa: S104
    print(f"debugpy listening on :{port} for {script}", file=sys.stderr, flush=True)
    if os.environ.get("DEBUGPY_WAIT_FOR_CLIENT", "false").lower() in {"1", "true", "yes"}:
        print("waiting for the debugger to attach", file=sys.stderr, flush=True)
        debugpy.wait_for_client()
    sys.argv = [script]
    entry.load()()


if __name__ == "__main__":
    main(sys.argv)
