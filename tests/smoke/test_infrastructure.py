"""The infrastructure of the test stack is up, initialised and locked down as promised."""

from __future__ import annotations

import os

import pytest

from llm_observatory.core.settings import DEVELOPMENT_SECRETS
from llm_observatory.storage.roles import app_role, readonly_role

DB_USER = os.environ.get("DB_USER", "postgres")
DB_PASSWORD = os.environ.get("DB_PASSWORD", DEVELOPMENT_SECRETS["DB_PASSWORD"])
APP_USER = app_role()
APP_PASSWORD = os.environ.get("DB_APP_PASSWORD", DEVELOPMENT_SECRETS["DB_APP_PASSWORD"])
RO_USER = readonly_role()
RO_PASSWORD = os.environ.get("DB_READONLY_PASSWORD", DEVELOPMENT_SECRETS["DB_READONLY_PASSWORD"])
REDIS_PASSWORD = os.environ.get("REDIS_PASSWORD", DEVELOPMENT_SECRETS["REDIS_PASSWORD"])
REDIS_PORT = os.environ.get("REDIS_PORT", "6379")


@pytest.fixture(scope="module")
def probe_table(test_stack):
    """A table created by the schema owner after init, as migrations create theirs."""
    test_stack.psql(
        "CREATE TABLE IF NOT EXISTS smoke_probe (id int, note text)", DB_USER, DB_PASSWORD
    )
    yield "smoke_probe"
    test_stack.psql("DROP TABLE IF EXISTS smoke_probe", DB_USER, DB_PASSWORD)


def test_infrastructure_is_healthy(test_stack):
    health = test_stack.service_health()
    assert health.get("timescaledb") == "healthy", health
    assert health.get("redis") == "healthy", health


def test_timescaledb_extensions_installed(test_stack):
    out = test_stack.psql(
        "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension",
        DB_USER,
        DB_PASSWORD,
    ).stdout.strip()
    for extension in ("pg_stat_statements", "timescaledb", "uuid-ossp"):
        assert extension in out.split(","), out


def test_tuning_parameters_applied(test_stack):
    out = test_stack.psql("SHOW shared_buffers", DB_USER, DB_PASSWORD).stdout.strip()
    assert out == "256MB"


def test_grafana_database_exists_and_is_owned_by_grafana(test_stack):
    out = test_stack.psql(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'grafana'",
        DB_USER,
        DB_PASSWORD,
    ).stdout.strip()
    assert out == os.environ.get("GRAFANA_DB_USER", "grafana")


def test_app_role_gets_nothing_on_tables_created_later(test_stack, probe_table):
    # Migrations grant the app role what storage uses, table by table; no defaults.
    for statement in (f"INSERT INTO {probe_table} VALUES (1, 'app')", f"TABLE {probe_table}"):
        denied = test_stack.psql(statement, APP_USER, APP_PASSWORD, check=False)
        assert denied.returncode != 0 and "permission denied" in denied.stderr, statement


def test_readonly_role_can_read_but_not_insert(test_stack, probe_table):
    out = test_stack.psql(f"SELECT count(*) FROM {probe_table}", RO_USER, RO_PASSWORD)
    assert out.stdout.strip().isdigit()
    denied = test_stack.psql(
        f"INSERT INTO {probe_table} VALUES (2, 'ro')", RO_USER, RO_PASSWORD, check=False
    )
    assert denied.returncode != 0
    assert "permission denied" in denied.stderr or "read-only transaction" in denied.stderr


def test_readonly_role_cannot_write_even_with_a_grant(test_stack, probe_table):
    # default_transaction_read_only is the second line of defence behind the grants.
    test_stack.psql(f"GRANT INSERT ON {probe_table} TO {RO_USER}", DB_USER, DB_PASSWORD)
    try:
        denied = test_stack.psql(
            f"INSERT INTO {probe_table} VALUES (3, 'ro')", RO_USER, RO_PASSWORD, check=False
        )
        assert denied.returncode != 0
        assert "read-only transaction" in denied.stderr
    finally:
        test_stack.psql(f"REVOKE INSERT ON {probe_table} FROM {RO_USER}", DB_USER, DB_PASSWORD)


def test_wrong_password_is_refused(test_stack):
    denied = test_stack.psql("SELECT 1", APP_USER, "not-the-password", check=False)
    assert denied.returncode != 0
    assert "password authentication failed" in denied.stderr


def _redis(test_stack, *args: str):
    return test_stack.exec("redis", "redis-cli", "-p", REDIS_PORT, *args, check=False)


def test_redis_refuses_unauthenticated_clients(test_stack):
    out = _redis(test_stack, "SET", "smoke", "1")
    assert "NOAUTH" in out.stdout + out.stderr


def test_redis_refuses_a_wrong_password(test_stack):
    out = _redis(test_stack, "--no-auth-warning", "-a", "wrong", "PING")
    assert "PONG" not in out.stdout
    assert "WRONGPASS" in out.stdout + out.stderr or "invalid" in out.stdout + out.stderr


def test_redis_configuration(test_stack):
    auth = ("--no-auth-warning", "-a", REDIS_PASSWORD)
    assert _redis(test_stack, *auth, "PING").stdout.strip() == "PONG"
    policy = _redis(test_stack, *auth, "CONFIG", "GET", "maxmemory-policy").stdout.split()
    assert policy[-1] == "allkeys-lru"
    aof = _redis(test_stack, *auth, "CONFIG", "GET", "appendonly").stdout.split()
    assert aof[-1] == "yes"
