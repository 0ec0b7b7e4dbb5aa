"""The API's database access: one async pool on the read-only role.

DATABASE_URL is the read-only URL (compose passes DATABASE_READONLY_URL): the role can
SELECT, and insert a signed deletion request that maintenance carries out
(api/governance.py), so no bug in the API can change data. Every statement runs
with a server-side timeout, so a runaway query gives its connection back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api import metrics
from llm_observatory.core.ops import ping_database
from llm_observatory.core.settings import ApiSettings

Query = str | sql.Composable


def libpq_url(database_url: str) -> str:
    """A URL psycopg accepts: SQLAlchemy's ``postgresql+psycopg://`` loses its driver.

    (storage.migrate has the same helper; importing it would load Alembic.)
    """
    scheme, sep, rest = database_url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return database_url


async def _configure(conn: AsyncConnection) -> None:
    # Messages and attributes are most of what the API reads: orjson parses them
    # several times faster than the json module.
    set_json_loads(orjson.loads, conn)


def make_pool(settings: ApiSettings) -> AsyncConnectionPool:
    """The pool the API reads with (not opened: `Database.open` does)."""
    timeout_ms = int(settings.db_statement_timeout * 1000)
    return AsyncConnectionPool(
        libpq_url(settings.database_url),
        min_size=settings.db_pool_min_size,
        max_size=max(settings.db_pool_max_size, settings.db_pool_min_size),
        timeout=settings.db_pool_timeout,
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            # Custom plans always: a filter value (a rare model, a common one) decides
            # which index is right, and a generic plan would pick one for all. No JIT:
            # compiling costs tens of milliseconds, more than these queries take.
            "options": (
                f"-c statement_timeout={timeout_ms} -c plan_cache_mode=force_custom_plan "
                "-c jit=off -c application_name=llm-observatory-api"
            ),
        },
        configure=_configure,
        # With DATABASE_READONLY_URL naming a replica first and the primary second
        # (target_session_attrs=prefer-standby), a connection made while the replica was
        # down sits on the primary: renewing connections brings reads back to the replica
        # within DB_POOL_MAX_LIFETIME, and a check on lending drops a dead one at once.
        max_lifetime=settings.db_pool_max_lifetime,
        check=AsyncConnectionPool.check_connection,
        name="api",
        open=False,
    )


class Database:
    def __init__(self, settings: ApiSettings) -> None:
        self.pool = make_pool(settings)

    async def open(self) -> None:
        # Not waiting: the API starts (and /health says why it is degraded) even when
        # the database is not reachable yet; the pool keeps trying in the background.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch_all(self, query: Query, params: Any = None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def fetch_many(
        self, statements: Sequence[tuple[Query, Any]]
    ) -> list[list[dict[str, Any]]]:
        """Several statements on one connection in one round trip (pipeline mode)."""
        async with self.pool.connection() as conn:
            async with conn.pipeline():
                cursors = [await conn.execute(query, params) for query, params in statements]
            return [await cursor.fetchall() for cursor in cursors]

    async def check(self) -> None:
        await ping_database(self.pool, metrics.DATABASE_UP)
