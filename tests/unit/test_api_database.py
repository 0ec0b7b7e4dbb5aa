"""The API's read pool renews its connections, so reads come back to a replica."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.database import make_pool
from llm_observatory.core.settings import ApiSettings


def test_read_connections_are_renewed_and_checked_when_lent() -> None:
    pool = make_pool(ApiSettings(db_pool_max_lifetime=42, jwt_secret="x" * 40))
    assert pool.max_lifetime == 42
    assert pool._check is AsyncConnectionPool.check_connection
