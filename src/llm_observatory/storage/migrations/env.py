"""Alembic environment: online only, explicit SQL, URL from the config built in code.

The URL comes from ``config.attributes["database_url"]`` (set by
``llm_observatory.storage.migrate``), else ``sqlalchemy.url``, else ``DATABASE_URL``.
A caller may also hand over an open SQLAlchemy connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from llm_observatory.storage.migrate import sqlalchemy_url

config = context.config


def _database_url() -> str:
    url = (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL")
    return sqlalchemy_url(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        # One transaction per revision: a failing revision leaves the earlier ones applied.
        transaction_per_migration=True,
        on_version_apply=config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    # The migrations look at the server (TimescaleDB licence) while they run.
    raise RuntimeError("offline (--sql) migrations are not supported")
run_migrations_online()
