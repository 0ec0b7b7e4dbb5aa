"""`llm-observatory-storage`: ingest API on 8080, /health + /metrics on 9090.

Start-up order: refuse development secrets in production, run migrations under an
advisory lock (RUN_MIGRATIONS=true; a failure stops the start-up with exit code 1),
enforce retention, then serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import psycopg
import uvicorn
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core import tracing
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import StorageSettings
from llm_observatory.core.startup import load_settings
from llm_observatory.storage import metrics
from llm_observatory.storage.migrate import MigrationError, libpq_url, run_migrations_locked
from llm_observatory.storage.retention import enforce_retention_async
from llm_observatory.storage.service import IngestApp, Storage

log = get_logger("llm_observatory.storage")

RETENTION_PERIOD_SECONDS = 3600


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: one handler stops both servers."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def _server(app, host: str, port: int) -> _Server:
    return _Server(
        uvicorn.Config(app, host=host, port=port, lifespan="off", log_config=None, access_log=False)
    )


async def retention_loop(settings: StorageSettings) -> None:
    """Retention needs the tables' owner (drop_chunks, jobs): the migration URL."""
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_url(settings.migrations_url), autocommit=True
            ) as conn:
                mode, dropped = await enforce_retention_async(conn, settings.retention_days)
            metrics.RETENTION_DROPPED.inc(dropped)
            log.info("retention enforced", mode=mode, days=settings.retention_days, dropped=dropped)
        except Exception as exc:  # retention failing must not stop ingest
            log.error("retention failed", error=str(exc))
        await asyncio.sleep(RETENTION_PERIOD_SECONDS)


async def serve(settings: StorageSettings) -> None:
    pool = AsyncConnectionPool(
        libpq_url(settings.database_url),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout,
        open=False,
    )
    await pool.open(wait=True, timeout=settings.db_pool_timeout)
    storage = Storage(settings, pool)
    storage.start()
    api = _server(IngestApp(storage), settings.api_host, settings.api_port)
    ops = _server(
        make_ops_app({"database": storage.check_database}), settings.api_host, settings.metrics_port
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    tasks = [
        asyncio.create_task(api.serve()),
        asyncio.create_task(ops.serve()),
    ]
    maintenance = asyncio.create_task(retention_loop(settings))
    log.info(
        "storage listening",
        api=f"{settings.api_host}:{settings.api_port}",
        metrics=settings.metrics_port,
        write_method=settings.write_method,
        batch_size=settings.batch_size,
    )
    await asyncio.wait(
        [*tasks, asyncio.create_task(stopping.wait())], return_when="FIRST_COMPLETED"
    )
    log.info("storage stopping: committing what is queued")
    api.should_exit = True
    await storage.stop()
    ops.should_exit = True
    maintenance.cancel()
    await asyncio.gather(*tasks, maintenance, return_exceptions=True)
    await pool.close()
    tracing.shutdown()


def main() -> None:
    settings = load_settings(StorageSettings, "storage")
    if settings.run_migrations:
        try:
            run_migrations_locked(settings.migrations_url)
        except MigrationError as exc:
            log.critical("migration failed; not starting", revision=exc.revision, error=str(exc))
            sys.exit(1)
        log.info("database schema is up to date")
    tracing.setup_tracing(
        "storage", settings.otel_exporter_otlp_endpoint, own_ports={settings.api_port}
    )
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
