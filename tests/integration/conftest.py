"""Fixtures for tests that need a real TimescaleDB.

LLMO_TEST_DATABASE_URL is a superuser URL of a TimescaleDB server (any database on it,
e.g. postgresql://postgres:postgres@127.0.0.1:55432/postgres). Without it the tests use
the isolated test stack's database (tests/conftest.py brings the stack up). Each
test module gets databases of its own (CREATE DATABASE test_<random>, dropped after
the module), so modules can run in parallel (pytest-xdist) without sharing state.
The app and read-only roles are created on the server if missing (roles are
server-wide; NOLOGIN, tests use them via SET ROLE / ``options=-c role=...``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg.rows
import pytest
from psycopg import sql

from llm_observatory.storage import migrate
from llm_observatory.storage.roles import app_role, readonly_role

ENV_VAR = "LLMO_TEST_DATABASE_URL"
APP_ROLE = app_role()
READONLY_ROLE = readonly_role()


def url_with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_role(url: str, role: str) -> str:
    """Connect as the URL's (super)user, acting as `role` from the start."""
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}options=-c%20role%3D{role}"))


def _ensure_role(conn: psycopg.Connection, role: str) -> None:
    if conn.execute("SELECT FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        return
    # Another xdist worker may make it first.
    with contextlib.suppress(psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))


@pytest.fixture(scope="session")
def server_url(request: pytest.FixtureRequest) -> str:
    """LLMO_TEST_DATABASE_URL if set, else the database of the isolated test stack."""
    url = os.environ.get(ENV_VAR)
    if not url:
        stack = request.getfixturevalue("test_stack")  # skips (or fails in CI) without Docker
        url = stack.database_url("postgres")
    if not url.startswith(("postgresql://", "postgres://")):
        pytest.fail(f"{ENV_VAR} must be a postgresql:// URL")
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for role in (APP_ROLE, READONLY_ROLE):
            _ensure_role(conn, role)
    return url


@pytest.fixture(scope="module")
def database_factory(server_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh empty databases for this module; all are dropped after it."""
    created: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return url_with_database(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def database_url(database_factory: Callable[[], str]) -> str:
    """URL (superuser) of a fresh, empty database of this test module."""
    return database_factory()


@pytest.fixture(scope="session", name="with_role")
def with_role_fixture() -> Callable[[str, str], str]:
    """with_role(url, role): the URL, acting as `role` (SET ROLE at connection start)."""
    return with_role


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    """database_url with every migration applied (superuser)."""
    from llm_observatory.storage import migrate

    migrate.upgrade(database_url)
    return database_url


@pytest.fixture(scope="module")
def app_url(migrated_url: str, app_role: str) -> str:
    """The migrated database, connected to as the app role (how the storage service writes)."""
    return with_role(migrated_url, app_role)


def _fetch(url: str, query: str, params: Any = None) -> list[dict[str, Any]]:
    with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def fetch() -> Callable[..., list[dict[str, Any]]]:
    """fetch(url, query, params=None): the rows as dicts."""
    return _fetch


@pytest.fixture(scope="module")
def app_role() -> str:
    return APP_ROLE


@pytest.fixture(scope="module")
def readonly_role() -> str:
    return READONLY_ROLE


@pytest.fixture
def fresh(database_factory: Callable[[], str], with_role, app_role) -> tuple[str, str]:
    """(owner URL, app role URL) of a new migrated database."""
    url = database_factory()
    migrate.upgrade(url)
    return url, with_role(url, app_role)
