"""`llm-observatory-maintenance`: migrations and retention, as the schema's owner.

The only long-running service with the owner's credentials (DATABASE_URL): storage
writes as the app role, the API and Grafana read as the read-only one. At start-up it
applies the migrations under an advisory lock (RUN_MIGRATIONS; a failure exits 1, so
compose keeps storage from starting on a half-made schema), then it is healthy. Every
MAINTENANCE_INTERVAL it checks the schema again (a database recreated under the stack
gets its tables back within that time) and keeps the full-text search indexes as
ENABLE_TEXT_SEARCH says (storage/search_indexes.py) and every RETENTION_INTERVAL it enforces
RETENTION_DAYS: a TimescaleDB policy where the licence allows, else it drops the old
chunks itself. Every REPLICATION_CHECK_INTERVAL it exports how far behind each
streaming replica is (storage/replication.py). Every BUDGET_INTERVAL it computes the
spend of each budget of BUDGETS_FILE (validated at start-up: an error naming its
line exits 2) into gauges and budget_status (storage/budgets.py), and every
DELETION_POLL_INTERVAL it carries out the deletions asked through the API
(storage/deletion_requests.py). /health and /metrics on METRICS_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

import psycopg
from prometheus_client import Counter, Gauge

from llm_observatory.core.lifecycle import Listener, serve_until_stopped
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import MaintenanceSettings
from llm_observatory.core.startup import CONFIGURATION_ERROR, load_settings
from llm_observatory.storage import budgets, deletion_requests
from llm_observatory.storage.migrate import MigrationError, libpq_url, run_migrations_locked
from llm_observatory.storage.replication import check_replication
from llm_observatory.storage.retention import enforce_retention
from llm_observatory.storage.search_indexes import keep_search_indexes

log = get_logger("llm_observatory.maintenance")

RETENTION_DROPPED = Counter(
    "llmo_maintenance_retention_chunks_dropped", "Chunks dropped by the retention task."
)
SCHEMA_OK = Gauge("llmo_maintenance_schema_ok", "1 when the last schema check found it current.")


class Maintenance:
    def __init__(
        self, settings: MaintenanceSettings, budget_config: budgets.BudgetsConfig | None = None
    ) -> None:
        self.settings = settings
        self.url = libpq_url(settings.database_url)
        self.schema_ok = False
        self.budgets = budgets.BudgetEvaluator(budget_config or budgets.BudgetsConfig())

    async def check_schema(self) -> None:
        if not self.settings.run_migrations:
            return
        try:
            await asyncio.to_thread(run_migrations_locked, self.settings.database_url)
        except MigrationError:
            self.schema_ok = False
            SCHEMA_OK.set(0)
            raise
        self.schema_ok = True
        SCHEMA_OK.set(1)
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            changed = await keep_search_indexes(conn, self.settings.enable_text_search)
        if changed:
            log.info(
                "text search indexes", enabled=self.settings.enable_text_search, changed=changed
            )

    async def enforce_retention(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            mode, dropped = await enforce_retention(conn, self.settings.retention_days)
        RETENTION_DROPPED.inc(dropped)
        log.info(
            "retention enforced", mode=mode, days=self.settings.retention_days, dropped=dropped
        )

    async def health(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=2) as conn:
            await conn.execute("SELECT 1")
        if self.settings.run_migrations and not self.schema_ok:
            raise RuntimeError("the schema is not current")

    async def watch_replication(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await check_replication(self.url)
            except Exception as exc:  # the lag going unreported must not stop the rest
                log.warning("replication check failed", error=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.replication_check_interval)

    async def evaluate_budgets(self) -> list[budgets.BudgetStatus]:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            statuses = await self.budgets.evaluate(conn)
            await budgets.write_status(conn, statuses)
        budgets.publish(statuses)
        return statuses

    async def watch_budgets(self, stopping: asyncio.Event) -> None:
        while self.budgets.config.budgets and not stopping.is_set():
            try:
                await self.evaluate_budgets()
            except Exception as exc:  # a missed evaluation must not stop the rest
                budgets.FAILURES.inc()
                log.warning("budget evaluation failed", error=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.budget_interval)

    def carry_out_deletions(self) -> list[int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return deletion_requests.process_pending(
                conn, self.settings.jwt_secret, self.settings.deletion_batch_size
            )

    async def watch_deletions(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                # In a thread: a deletion takes as long as it takes, the loop goes on.
                await asyncio.to_thread(self.carry_out_deletions)
            except Exception as exc:
                log.warning("deletion requests failed", error=str(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.deletion_poll_interval)

    async def run(self, stopping: asyncio.Event) -> None:
        others = [
            asyncio.create_task(watch(stopping))
            for watch in (self.watch_replication, self.watch_budgets, self.watch_deletions)
        ]
        try:
            await self.maintain(stopping)
        finally:
            await asyncio.gather(*others)

    async def maintain(self, stopping: asyncio.Event) -> None:
        next_retention = 0.0
        while not stopping.is_set():
            try:
                await self.check_schema()
            except MigrationError as exc:
                log.error("schema check failed", revision=exc.revision, error=str(exc))
            if time.monotonic() >= next_retention:
                try:
                    await self.enforce_retention()
                    next_retention = time.monotonic() + self.settings.retention_interval
                except Exception as exc:  # retention failing must not stop the rest
                    log.error("retention failed", error=str(exc)[:300])
                    next_retention = time.monotonic() + self.settings.maintenance_interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.maintenance_interval)


def main() -> None:
    settings = load_settings(MaintenanceSettings, "maintenance")
    try:
        budget_config = budgets.load_budgets(settings.budgets_file)
    except budgets.BudgetFileError as exc:
        log.critical("the budgets file is not valid; not starting", errors=exc.errors)
        print(f"maintenance: BUDGETS_FILE is not valid:\n{exc}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR)
    log.info("budgets loaded", file=settings.budgets_file, budgets=len(budget_config.budgets))
    maintenance = Maintenance(settings, budget_config)
    try:
        asyncio.run(maintenance.check_schema())
    except MigrationError as exc:
        log.critical("migration failed; not starting", revision=exc.revision, error=str(exc))
        sys.exit(1)
    log.info("database schema is up to date", migrations=settings.run_migrations)

    ops = make_ops_app({"database": maintenance.health})
    listener = Listener(ops, "0.0.0.0", settings.metrics_port, ops=True)  # noqa: S104
    sys.exit(serve_until_stopped("maintenance", [listener], background=maintenance.run))


if __name__ == "__main__":
    main()
