"""The maintenance service (storage/maintenance.py) against a real TimescaleDB: it
migrates at start, gives a recreated database its tables back, enforces retention."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import psycopg
import pytest
from alembic.script import ScriptDirectory
from prometheus_client import REGISTRY
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.records import LogRecordRow
from llm_observatory.core.settings import MaintenanceSettings
from llm_observatory.core.signals import LOGS, TRACES
from llm_observatory.storage import migrate, retention
from llm_observatory.storage.maintenance import Maintenance
from llm_observatory.storage.writer import TableWriter
from tests.support.span_records import span_record

HEAD = ScriptDirectory.from_config(migrate.make_config()).get_current_head()
DAY_NS = 86_400 * 10**9


def tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def maintenance(url: str, **settings) -> Maintenance:
    return Maintenance(MaintenanceSettings(database_url=url, **settings))


def test_it_migrates_at_start_and_is_healthy(database_factory) -> None:
    url = database_factory()
    service = maintenance(url)
    assert migrate.current(url) is None
    with pytest.raises(RuntimeError, match="not current"):
        asyncio.run(service.health())
    asyncio.run(service.check_schema())
    assert migrate.current(url) == HEAD
    assert {"spans", "metric_points", "log_records", "rejected_records"} <= tables(url)
    assert service.schema_ok
    assert REGISTRY.get_sample_value("llmo_maintenance_schema_ok") == 1
    asyncio.run(service.health())
    asyncio.run(service.check_schema())  # again: nothing to do, still fine
    assert migrate.current(url) == HEAD


def test_without_run_migrations_it_leaves_the_schema_alone(database_factory) -> None:
    url = database_factory()
    service = maintenance(url, run_migrations=False)
    asyncio.run(service.check_schema())
    assert migrate.current(url) is None
    asyncio.run(service.health())  # the schema is not its job then


def test_a_recreated_database_gets_its_tables_back(server_url: str, database_factory) -> None:
    url = database_factory()
    name = urlsplit(url).path.lstrip("/")
    service = maintenance(url, maintenance_interval=0.2, retention_days=0)

    def recreate() -> None:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    async def main() -> None:
        stopping = asyncio.Event()
        running = asyncio.create_task(service.run(stopping))
        try:
            await _until(lambda: "spans" in tables(url))
            await asyncio.to_thread(recreate)
            assert "spans" not in tables(url)
            await _until(lambda: "spans" in tables(url))  # within a maintenance interval
        finally:
            stopping.set()
            await asyncio.wait_for(running, 10)

    asyncio.run(main())
    assert migrate.current(url) == HEAD


async def _until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.1)


def test_retention_on_the_apache_build(migrated_url: str, fetch) -> None:
    async def mode() -> str:
        async with await psycopg.AsyncConnection.connect(migrated_url) as conn:
            return await retention.retention_mode(conn)

    if asyncio.run(mode()) == "policy":
        pytest.skip("licensed build: retention is a TimescaleDB policy there")
    now = time.time_ns()
    ages = {"old": now - 40 * DAY_NS, "recent": now - DAY_NS}

    async def seed() -> None:
        async with AsyncConnectionPool(migrated_url, min_size=1, open=False) as pool:
            spans = [
                span_record(f"retention {tag}", i, start_ns=t)
                for i, (tag, t) in enumerate(ages.items())
            ]
            await TableWriter(pool, TRACES).write(spans)
            logs = [
                LogRecordRow(time_unix_nano=t, body=f"retention {tag}") for tag, t in ages.items()
            ]
            await TableWriter(pool, LOGS).write(logs)

    asyncio.run(seed())
    dropped_before = REGISTRY.get_sample_value("llmo_maintenance_retention_chunks_dropped_total")
    asyncio.run(maintenance(migrated_url, retention_days=30).enforce_retention())
    dropped = REGISTRY.get_sample_value("llmo_maintenance_retention_chunks_dropped_total")
    assert dropped - dropped_before >= 2  # the old chunk of spans and of log_records
    names = fetch(migrated_url, "SELECT name FROM spans WHERE name LIKE 'retention %%'")
    assert [row["name"] for row in names] == ["retention recent"]
    bodies = fetch(
        migrated_url, "SELECT body FROM log_records WHERE body::text LIKE '%%retention%%'"
    )
    assert [row["body"] for row in bodies] == ["retention recent"]
