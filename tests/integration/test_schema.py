"""Migrations, schema, grants, licence paths, llm_usage_hourly, retention.

Needs LLMO_TEST_DATABASE_URL (see conftest.py); the tests at the bottom that only look at
the migration's SQL text run without a database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from alembic.script import ScriptDirectory
from psycopg import sql

from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.signals import SIGNALS
from llm_observatory.storage import migrate, retention
from llm_observatory.storage.migrate import MigrationError

SIGNAL_TABLES = ("spans", "metric_points", "log_records")
HYPERTABLES = {
    "spans": "start_time",
    "metric_points": "time",
    "log_records": "time",
    "rejected_records": "received_at",
}
# "functionality not supported ..." (DDL) / 'function "x" is not supported ...' (functions)
LICENCE_ERROR = 'not supported under the current "apache" license'
HEAD = ScriptDirectory.from_config(migrate.make_config()).get_current_head()


def migration_module():
    script = ScriptDirectory.from_config(migrate.make_config())
    return script.get_revision("0001").module


def connect(url: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, **kwargs)


def on_own_connection(url: str, function, *args):
    """A retention function (async, as the maintenance service runs it) on a new connection."""

    async def call():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await function(conn, *args)

    return asyncio.run(call())


def licence_of(url: str) -> str:
    return on_own_connection(url, retention.licence)


def column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (table,),
    ).fetchall()
    return dict(rows)


def record_columns(cls: type) -> set[str]:
    """Dataclass fields -> column names (time_unix_nano -> time, ...)."""
    names = {f.name.removesuffix("_unix_nano") for f in dataclasses.fields(cls)}
    if cls is SpanRecord:
        names |= {"duration_ms", "ingested_at"}
    return names


@pytest.fixture(scope="module")
def migrated_url(database_factory: Callable[[], str]) -> str:
    url = database_factory()
    migrate.upgrade(url)
    return url


# --- migrations ----------------------------------------------------------------------


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert migrate.current(database_url) is None
    assert migrate.status(database_url)[0] == ("0001", "initial schema", False)

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == HEAD
    assert all(applied for _, _, applied in migrate.status(database_url))
    with connect(database_url) as conn:
        dims = conn.execute(
            "SELECT hypertable_name, column_name, time_interval "
            "FROM timescaledb_information.dimensions"
        ).fetchall()
        assert {(t, c) for t, c, _ in dims} == set(HYPERTABLES.items())
        assert {i for _, _, i in dims} == {timedelta(days=1)}

    migrate.downgrade(database_url, "base")
    assert migrate.current(database_url) is None
    with connect(database_url) as conn:
        left = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND relname NOT LIKE 'alembic_version%'"
        ).fetchall()
        assert left == []
        assert (
            conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()[0]
            == 0
        )

    migrate.upgrade(database_url)
    assert migrate.current(database_url) == HEAD
    with connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchone()[0] == 0


def test_app_role_only_inserts_and_reads(migrated_url: str) -> None:
    """0003/0004: the app role inserts and reads the signal tables and only inserts rejects."""
    app = os.environ.get("DB_APP_USER") or "llm_observatory_app"
    readonly = os.environ.get("DB_READONLY_USER") or "llm_observatory_readonly"
    check = "SELECT has_table_privilege(%s, %s, %s)"
    with connect(migrated_url) as conn:

        def allowed(role: str, table: str, privilege: str) -> bool:
            return conn.execute(check, (role, table, privilege)).fetchone()[0]

        for table in SIGNAL_TABLES:
            assert allowed(app, table, "INSERT") and allowed(app, table, "SELECT"), table
            for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                assert not allowed(app, table, privilege), (table, privilege)
            assert allowed(readonly, table, "SELECT")
            assert not allowed(readonly, table, "INSERT")
        assert allowed(app, "rejected_records", "INSERT")
        assert not allowed(app, "rejected_records", "SELECT")
        assert allowed(readonly, "rejected_records", "SELECT")
        for table in SIGNAL_TABLES:
            column = conn.execute(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = %s AND column_name = 'ingest_key'",
                (table,),
            ).fetchone()
            assert column == ("text",), table


def test_usage_covering_index_comes_and_goes_with_0002(database_factory) -> None:
    """0002: the API's usage query reads LLM spans from an index alone (index-only scan)."""
    url = database_factory()
    index = "SELECT indexdef FROM pg_indexes WHERE indexname = 'spans_llm_usage_idx'"
    migrate.upgrade(url, "0002")
    with connect(url) as conn:
        (definition,) = conn.execute(index).fetchone()
    assert "INCLUDE (model, provider, service_name, status_code, duration_ms" in definition
    assert definition.endswith("WHERE is_llm")
    migrate.downgrade(url, "0001")
    with connect(url) as conn:
        assert conn.execute(index).fetchone() is None


def test_content_columns_compress_with_lz4_from_0007(database_factory) -> None:
    """0007: messages, attributes and bodies are compressed with lz4, on chunks too."""
    url = database_factory()
    compression = (
        "SELECT a.attrelid::regclass::text, a.attcompression FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid "
        "WHERE a.attname = 'input_messages' AND (c.relname = 'spans' OR c.relname LIKE '%chunk')"
    )
    migrate.upgrade(url, "0006")
    with connect(url) as conn:
        if not conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()[0]:
            pytest.skip("this server is built without lz4")
        conn.execute(
            "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, "
            "service_name, name, kind) VALUES (now(), now(), 0, 't', 's', 'svc', 'n', 'internal')"
        )
    migrate.upgrade(url, "0007")
    with connect(url) as conn:
        methods = dict(conn.execute(compression).fetchall())
    assert len(methods) >= 2 and set(methods.values()) == {"l"}, methods  # table and a chunk
    migrate.downgrade(url, "0006")
    with connect(url) as conn:
        assert set(dict(conn.execute(compression).fetchall()).values()) == {"p"}


def test_columns_match_records(migrated_url: str) -> None:
    with connect(migrated_url) as conn:
        for table, cls in (
            ("spans", SpanRecord),
            ("metric_points", MetricPointRecord),
            ("log_records", LogRecordRow),
        ):
            assert set(column_types(conn, table)) == record_columns(cls), table
        spans = column_types(conn, "spans")
    assert spans["start_time"] == "timestamp with time zone"
    assert spans["pii_types"] == "ARRAY"
    assert spans["attributes"] == "jsonb"
    assert spans["cost_usd"] == "numeric"
    assert spans["input_tokens"] == "bigint"


def test_every_copy_column_is_a_table_column(migrated_url: str) -> None:
    # The collector encodes rows in the TableSpec's column order and storage COPYs them
    # with those names (core/rows.py); the generated columns are the table's own.
    with connect(migrated_url) as conn:
        for signal in SIGNALS.values():
            spec = signal.table
            columns = set(column_types(conn, spec.table))
            assert set(spec.column_names) <= columns, spec.table
            assert columns - set(spec.column_names) <= {"ingested_at"}, spec.table


def test_indexes(migrated_url: str) -> None:
    with connect(migrated_url) as conn:
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            ).fetchall()
        )
    expected = {
        "spans_trace_span_start_uidx": "UNIQUE INDEX",
        "spans_service_time_idx": "(service_name, start_time DESC)",
        "spans_model_time_idx": "(model, start_time DESC)",
        "spans_provider_time_idx": "(provider, start_time DESC)",
        "spans_root_time_idx": "WHERE (parent_span_id IS NULL)",
        "spans_error_time_idx": "WHERE (status_code = 'error'::text)",
        "metric_points_name_time_idx": '(metric_name, "time" DESC)',
        "log_records_service_time_idx": '(service_name, "time" DESC)',
        "log_records_trace_idx": "WHERE (trace_id IS NOT NULL)",
    }
    for name, fragment in expected.items():
        assert fragment in indexes[name], (name, indexes.get(name))
    for name in ("spans_model_time_idx", "spans_provider_time_idx"):  # may INCLUDE more
        assert indexes[name].endswith("WHERE is_llm"), (name, indexes[name])


RUN_LOCKED = (
    "import sys\n"
    "from llm_observatory.storage.migrate import run_migrations_locked\n"
    "run_migrations_locked(sys.argv[1])\n"
)


def test_concurrent_locked_upgrades(database_factory: Callable[[], str]) -> None:
    """Three processes start at once on an empty database: all succeed, schema made once.

    The test holds the migration lock until all three are waiting on it, so they really
    contend. (Without the lock, three alembic upgrades started together collide.)
    """
    url = database_factory()
    with connect(url) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (migrate.ADVISORY_LOCK_KEY,))
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", RUN_LOCKED, url],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        deadline = time.monotonic() + 60
        waiting = 0
        while waiting < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            waiting = holder.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()[0]
        holder.execute("SELECT pg_advisory_unlock(%s)", (migrate.ADVISORY_LOCK_KEY,))
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        if p.stderr:
            p.stderr.close()
    assert waiting == 3
    assert [code for code, _ in results] == [0, 0, 0], results
    assert migrate.current(url) == HEAD
    with connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()[
            0
        ] == len(HYPERTABLES)
    # And again, with nothing to do.
    migrate.run_migrations_locked(url)


def test_failed_migration_raises_migration_error(database_factory: Callable[[], str]) -> None:
    url = database_factory()
    with connect(url) as conn:
        conn.execute("CREATE TABLE spans (x int)")  # 0001 will collide with it
    with pytest.raises(MigrationError) as info:
        migrate.run_migrations_locked(url)
    assert info.value.revision == "0001"
    assert "0001" in str(info.value)
    assert 'relation "spans" already exists' in str(info.value)
    assert migrate.current(url) is None


def test_unreachable_database_raises_migration_error() -> None:
    with pytest.raises(MigrationError, match="cannot connect"):
        migrate.run_migrations_locked("postgresql://nobody:x@127.0.0.1:1/none?connect_timeout=2")


def test_create_writes_next_revision(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    copy = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", copy)
    path = migrate.create("add widgets table")
    following = f"{int(HEAD) + 1:04d}"
    assert path == copy / "versions" / f"{following}_add_widgets_table.py"
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
    assert (namespace["revision"], namespace["down_revision"]) == (following, HEAD)
    with pytest.raises(NotImplementedError):  # an unedited revision must not pass silently
        namespace["upgrade"]()
    script = ScriptDirectory.from_config(migrate.make_config())
    assert script.get_current_head() == following
    with pytest.raises(ValueError):
        migrate.create("  ")


def test_url_helpers() -> None:
    assert (
        migrate.sqlalchemy_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    )
    assert migrate.sqlalchemy_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert migrate.libpq_url("postgresql+psycopg://u@h/d") == "postgresql://u@h/d"
    with pytest.raises(ValueError):
        migrate.sqlalchemy_url("mysql://u@h/d")


# --- roles -----------------------------------------------------------------------------

SPAN_INSERT = (
    "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, service_name, "
    "name, kind) VALUES (now(), now(), 0, %s, 'b7ad6b7169203331', 'svc', 'n', 'internal')"
)


def test_readonly_role_can_select_not_insert(migrated_url: str, readonly_role: str) -> None:
    with connect(migrated_url) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(readonly_role)))
        for table in (*HYPERTABLES, "llm_usage_hourly"):
            conn.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(SPAN_INSERT, ("0" * 32,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM spans")


def test_app_role_can_insert(migrated_url: str, app_role: str) -> None:
    trace_id = "a" * 32
    with connect(migrated_url) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(app_role)))
        conn.execute(SPAN_INSERT, (trace_id,))
        assert conn.execute(
            "SELECT count(*) FROM spans WHERE trace_id = %s", (trace_id,)
        ).fetchone() == (1,)
        conn.execute("SELECT * FROM llm_usage_hourly LIMIT 1")
        # Only the owner deletes (retention, deletion): the app role inserts and reads.
        for statement in ("DELETE FROM spans", "UPDATE spans SET name = 'x'", "DROP TABLE spans"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_grants_skip_missing_roles(
    database_factory: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_APP_USER", "llmo_test_no_such_role")
    monkeypatch.setenv("DB_READONLY_USER", "llmo_test_no_such_role_either")
    url = database_factory()
    migrate.upgrade(url)  # NOTICEs, no error
    assert migrate.current(url) == HEAD


# --- licence-dependent parts -------------------------------------------------------------


def test_licence_dependent_objects(migrated_url: str) -> None:
    licence = licence_of(migrated_url)
    with connect(migrated_url) as conn:
        caggs = conn.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
        ).fetchall()
        views = conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
        ).fetchall()
        compressed = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables "
            "WHERE compression_enabled"
        ).fetchall()
        usage_columns = [
            r[0]
            for r in conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'llm_usage_hourly'::regclass "
                "AND attnum > 0 ORDER BY attnum"
            )
        ]
    assert tuple(usage_columns) == migration_module().USAGE_COLUMNS
    if licence == "timescale":
        assert caggs == [("llm_usage_hourly", False)]
        assert {r[0] for r in compressed} == set(HYPERTABLES)
    else:
        assert licence == "apache"
        assert caggs == []
        assert compressed == []
        assert ("llm_usage_hourly",) in views


def test_licensed_sql_reaches_the_licence_check(migrated_url: str) -> None:
    """On Apache, each licensed statement must fail with the licence error, not a syntax
    error or an unknown function/argument: so it parses and its named arguments resolve.
    (Option validation and the statements' effects can only run on the licensed build.)"""
    if licence_of(migrated_url) != "apache":
        pytest.skip("licensed build: the statements ran for real in the migration")
    mod = migration_module()
    with connect(migrated_url) as conn:
        for statement in mod.LICENSED_SQL:
            with pytest.raises(psycopg.errors.FeatureNotSupported) as info, conn.transaction():
                if "CREATE MATERIALIZED VIEW" in statement:
                    conn.execute("DROP VIEW llm_usage_hourly")  # rolled back
                conn.execute(statement)
            assert LICENCE_ERROR in str(info.value), (statement, str(info.value))
        with pytest.raises(psycopg.errors.FeatureNotSupported, match=LICENCE_ERROR):
            on_own_connection(migrated_url, retention.ensure_retention_policy, 30)
        # The check tells mistakes apart: a wrong argument name or table fails earlier.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            conn.execute("SELECT add_compression_policy('spans', compress_afterr => '7 days')")
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT add_retention_policy('spanz', drop_after => '7 days')")
        with pytest.raises(psycopg.errors.SyntaxError):
            conn.execute("ALTER TABLE spans SET timescaledb.compress")


def test_licensed_sql_text() -> None:
    """What the TimescaleDB docs prescribe; the licensed branch cannot run on Apache."""
    mod = migration_module()
    statements = [" ".join(s.split()) for s in mod.LICENSED_SQL]
    text = "\n".join(statements)
    assert (
        "ALTER TABLE spans SET ( timescaledb.compress, "
        "timescaledb.compress_segmentby = 'service_name', "
        "timescaledb.compress_orderby = 'start_time DESC' )"
    ) in text
    assert (
        "SELECT add_compression_policy('spans', compress_after => INTERVAL '7 days', "
        "if_not_exists => true)"
    ) in text
    for table in ("metric_points", "log_records"):
        assert f"ALTER TABLE {table} SET ( timescaledb.compress," in text
        assert f"add_compression_policy('{table}', compress_after => INTERVAL '7 days'" in text
    cagg = next(s for s in statements if s.startswith("CREATE MATERIALIZED VIEW"))
    assert cagg.startswith(
        "CREATE MATERIALIZED VIEW llm_usage_hourly WITH (timescaledb.continuous, "
        "timescaledb.materialized_only = false) AS SELECT"
    )
    assert cagg.endswith("WITH NO DATA")  # WITH DATA cannot run inside a transaction
    # The continuous aggregate and the Apache view are the same SELECT.
    select = " ".join(mod.USAGE_SELECT.split())
    assert select in cagg
    assert [" ".join(s.split()) for s in mod.APACHE_SQL] == [
        f"CREATE VIEW llm_usage_hourly AS {select}"
    ]
    assert "time_bucket(INTERVAL '1 hour', start_time) AS bucket" in select
    assert (
        "SELECT add_continuous_aggregate_policy('llm_usage_hourly', "
        "start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', "
        "schedule_interval => INTERVAL '30 minutes', if_not_exists => true)"
    ) in text
    # Only aggregates continuous aggregates support (no percentiles, no DISTINCT).
    assert "percentile" not in select.lower() and "distinct" not in select.lower()


def test_grant_sql_quotes_role_names() -> None:
    mod = migration_module()
    statement = mod.grant_sql("o'brien", "SELECT", ("spans",))
    assert "rolname = 'o''brien'" in statement
    assert "format('GRANT SELECT ON TABLE spans TO %I', 'o''brien')" in statement


# --- llm_usage_hourly --------------------------------------------------------------------

USAGE_ROWS = [
    # hours ago, minute, service, provider, model, status, in, out, cost, duration_ms, is_llm
    (3, 5, "chat", "openai", "gpt-4o", "ok", 100, 20, "0.001250000", 812.5, True),
    (3, 40, "chat", "openai", "gpt-4o", "error", 50, None, None, 90.0, True),
    (3, 59, "chat", "openai", "gpt-4o-mini", "ok", 10, 5, "0.000001500", 100.25, True),
    (3, 10, "rag", "anthropic", "claude-sonnet-4", "unset", 2000, 300, "0.010500000", 2400.0, True),
    (2, 0, "chat", "openai", "gpt-4o", "ok", 70, 30, "0.000900000", 500.0, True),
    (2, 1, "chat", "openai", "gpt-4o", "ok", 1, 1, "0.000000001", 1.0, False),  # not LLM
    (1, 30, "chat", None, None, "error", None, None, None, 3.0, True),
    (0, 1, "rag", "anthropic", "claude-sonnet-4", "ok", 5, 6, "0.000100000", 42.0, True),
]


def test_llm_usage_hourly_matches_direct_aggregate(migrated_url: str) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with connect(migrated_url) as conn:
        conn.execute("SET TIME ZONE 'America/New_York'")  # buckets must still be UTC hours
        for i, (ago, minute, svc, prov, model, status, tin, tout, cost, dur, llm) in enumerate(
            USAGE_ROWS
        ):
            start = hour - timedelta(hours=ago) + timedelta(minutes=minute)
            conn.execute(
                "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, "
                "service_name, name, kind, status_code, is_llm, provider, model, input_tokens, "
                "output_tokens, total_tokens, cost_usd) VALUES "
                "(%s, %s, %s, %s, %s, %s, 'chat', 'client', %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    start,
                    start + timedelta(milliseconds=dur),
                    dur,
                    f"{i:032x}",
                    f"{i:016x}",
                    svc,
                    status,
                    llm,
                    prov,
                    model,
                    tin,
                    tout,
                    None if tin is None else tin + (tout or 0),
                    cost,
                ),
            )
        key = "ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST"
        view = conn.execute(f"SELECT * FROM llm_usage_hourly {key}").fetchall()
        conn.execute("SET TIME ZONE 'UTC'")
        direct = conn.execute(
            f"""
            SELECT date_trunc('hour', start_time), service_name, provider, model,
                   count(*), count(*) FILTER (WHERE status_code = 'error'),
                   sum(input_tokens), sum(output_tokens), sum(total_tokens),
                   sum(cache_read_tokens), sum(cache_creation_tokens), sum(reasoning_tokens),
                   sum(cost_usd), sum(duration_ms), max(duration_ms)
            FROM spans WHERE is_llm
            GROUP BY 1, 2, 3, 4 {key}
            """
        ).fetchall()
    assert len(view) == 6
    assert [tuple(r) for r in view] == [tuple(r) for r in direct]
    gpt4o_3h = next(r for r in view if r[3] == "gpt-4o" and r[0] == hour - timedelta(hours=3))
    assert gpt4o_3h[4:9] == (2, 1, 150, 20, 170)
    assert gpt4o_3h[12] == Decimal("0.001250000")
    assert gpt4o_3h[14] == 812.5


# --- retention ---------------------------------------------------------------------------


def test_retention(database_factory: Callable[[], str]) -> None:
    url = database_factory()
    migrate.upgrade(url)
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    mode = on_own_connection(url, retention.retention_mode)
    with connect(url) as conn:
        if mode == "policy":
            pytest.skip("licensed build: retention is a TimescaleDB policy there")
        assert mode == "drop_chunks"
        for i, t in enumerate((old, recent, now)):
            conn.execute(SPAN_INSERT.replace("now(), now()", "%s, %s"), (t, t, f"{i:032x}"))
            conn.execute(
                "INSERT INTO metric_points (time, metric_name, metric_type, service_name) "
                "VALUES (%s, 'm', 'gauge', 'svc')",
                (t,),
            )
            conn.execute("INSERT INTO log_records (time, service_name) VALUES (%s, 'svc')", (t,))
            conn.execute(
                "INSERT INTO rejected_records (received_at, signal, reason, record, record_size) "
                "VALUES (%s, 'traces', 'r', 'x', 1)",
                (t,),
            )
        assert on_own_connection(url, retention.apply_retention, 0) == 0  # keep forever
        with pytest.raises(ValueError):
            on_own_connection(url, retention.apply_retention, -1)
        # one old chunk per hypertable
        assert on_own_connection(url, retention.apply_retention, 30) == len(HYPERTABLES)
        assert on_own_connection(url, retention.apply_retention, 30) == 0
        for table, column in HYPERTABLES.items():
            times = conn.execute(
                sql.SQL("SELECT min({c}) FROM {t}").format(
                    c=sql.Identifier(column), t=sql.Identifier(table)
                )
            ).fetchone()[0]
            assert times > now - timedelta(days=2), table
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()[0]
            assert count == 2, table
        assert on_own_connection(url, retention.enforce_retention, 30) == ("drop_chunks", 0)
