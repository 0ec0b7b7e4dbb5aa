"""`llm-observatory-api`: REST + GraphQL on PORT (8080), /health + /metrics on METRICS_PORT (9090).

The metrics port's /health checks the database only: it is the container's
healthcheck, and an API without Redis still answers (uncached, unlimited). The API
port's /health reports both (503 naming what is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import uvicorn

from llm_observatory.core import tracing
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import ApiSettings
from llm_observatory.core.startup import load_settings

log = get_logger("llm_observatory.api")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: one handler stops both servers."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def _server(app, host: str, port: int, lifespan: str) -> _Server:
    return _Server(
        uvicorn.Config(
            app, host=host, port=port, lifespan=lifespan, log_config=None, access_log=False
        )
    )


async def serve(settings: ApiSettings) -> bool:
    """Serve until SIGTERM/SIGINT (True) or until a server stops by itself (False)."""
    # Imported here: the production check in main() answers before the heavy imports.
    from llm_observatory.api.app import create_app

    app = create_app(settings)
    state = app.state.api
    servers = [_server(app, settings.host, settings.port, lifespan="on")]
    if settings.metrics_enabled:
        ops_app = make_ops_app({"database": state.database.check})
        servers.append(_server(ops_app, settings.host, settings.metrics_port, lifespan="off"))
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info(
        "api listening",
        api=f"{settings.host}:{settings.port}",
        metrics=settings.metrics_port if settings.metrics_enabled else None,
        graphql=settings.graphql_enabled,
        playground=settings.graphql_playground,
        rate_limit=f"{settings.rate_limit_requests}/{settings.rate_limit_window}s",
    )
    await asyncio.wait(
        [*tasks, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    if not stopping.is_set():
        log.error("a server stopped by itself (port in use?): shutting down")
    log.info("api stopping")
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    return stopping.is_set()


def main() -> None:
    settings = load_settings(ApiSettings, "api")
    tracing.setup_tracing("api", settings.otel_exporter_otlp_endpoint, own_ports={settings.port})
    stopped_cleanly = asyncio.run(serve(settings))
    tracing.shutdown()
    if not stopped_cleanly:
        sys.exit(1)


if __name__ == "__main__":
    main()
