"""`llm-observatory-storage`: ingest API on 8080, /health + /metrics on 9090.

It writes as the app role and holds no other credentials: the maintenance service
applies the migrations (and storage starts after it, in compose) and enforces
retention. Production refuses development secrets at start-up.
"""

from __future__ import annotations

import sys

from psycopg_pool import AsyncConnectionPool

from llm_observatory.core import tracing
from llm_observatory.core.lifecycle import Listener, serve_until_stopped
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import StorageSettings
from llm_observatory.core.startup import load_settings
from llm_observatory.storage.migrate import libpq_url
from llm_observatory.storage.service import IngestApp, Storage

log = get_logger("llm_observatory.storage")


def main() -> None:
    settings = load_settings(StorageSettings, "storage")
    tracing.setup_tracing(
        "storage", settings.otel_exporter_otlp_endpoint, own_ports={settings.api_port}
    )
    pool = AsyncConnectionPool(
        libpq_url(settings.database_url),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout,
        open=False,
    )
    storage = Storage(settings, pool)

    async def start() -> None:
        await pool.open(wait=True, timeout=settings.db_pool_timeout)
        storage.start()
        log.info(
            "storage listening",
            api=f"{settings.api_host}:{settings.api_port}",
            metrics=settings.metrics_port,
            batch_size=settings.batch_size,
        )

    async def close() -> None:
        await pool.close()

    listeners = [
        Listener(IngestApp(storage), settings.api_host, settings.api_port),
        Listener(
            make_ops_app({"database": storage.check_database}),
            settings.api_host,
            settings.metrics_port,
            ops=True,
        ),
    ]
    # The queues commit what they hold before the pool closes.
    sys.exit(
        serve_until_stopped("storage", listeners, start=start, drain=storage.stop, close=close)
    )


if __name__ == "__main__":
    main()
