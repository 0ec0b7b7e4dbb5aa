"""`llm-observatory-api`: REST + GraphQL on PORT (8080), /health + /metrics on METRICS_PORT (9090).

The metrics port's /health checks the database only: it is the container's
healthcheck, and an API without Redis still answers (uncached, unlimited). The API
port's /health reports both (503 naming what is down). METRICS_ENABLED=false turns
/metrics off, never /health. Signals, the stop and the exit code: core/lifecycle.py.
"""

from __future__ import annotations

import sys

from llm_observatory.core import tracing
from llm_observatory.core.lifecycle import Listener, serve_until_stopped
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import ApiSettings
from llm_observatory.core.startup import load_settings

log = get_logger("llm_observatory.api")


def listeners(settings: ApiSettings) -> list[Listener]:
    """The API's listener, then the ops listener (stops last, so health answers a drain)."""
    # Imported here: the production check in main() answers before the heavy imports.
    from llm_observatory.api.app import create_app

    app = create_app(settings)
    ops_app = make_ops_app(
        {"database": app.state.api.database.check}, metrics=settings.metrics_enabled
    )
    return [
        Listener(app, settings.host, settings.port, lifespan="on"),
        Listener(ops_app, settings.host, settings.metrics_port, ops=True),
    ]


def main() -> None:
    settings = load_settings(ApiSettings, "api")
    tracing.setup_tracing("api", settings.otel_exporter_otlp_endpoint, own_ports={settings.port})

    async def start() -> None:
        log.info(
            "api listening",
            api=f"{settings.host}:{settings.port}",
            ops=settings.metrics_port,
            metrics=settings.metrics_enabled,
            graphql=settings.graphql_enabled,
            playground=settings.graphql_playground,
            rate_limit=f"{settings.rate_limit_requests}/{settings.rate_limit_window}s",
        )

    sys.exit(serve_until_stopped("api", listeners(settings), start=start))


if __name__ == "__main__":
    main()
