"""Deletion, export and budgets against TimescaleDB, over seeded demo data.

Demo data (cli/demo_data.py) has users with conversations of several traces, log
records per trace, LLM calls with costs. Each test that deletes works on its own
freshly seeded database.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import psycopg
import pytest
from psycopg.types.json import Jsonb

from llm_observatory.cli.seed import seed
from llm_observatory.storage import budgets, deletion, deletion_requests, export, migrate
from llm_observatory.storage.deletion import Selector

SECRET = "integration-test-secret-0123456789"
TABLES = ("spans", "log_records", "metric_points")


@pytest.fixture
def seeded(database_factory: Callable[[], str]) -> str:
    url = database_factory()
    migrate.upgrade(url)
    asyncio.run(seed(url, 1500, days=3, seed_value=11))
    return url


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


def totals(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def spans_per_user(conn: psycopg.Connection) -> dict[str, int]:
    rows = conn.execute(
        "SELECT user_id, count(*) FROM spans WHERE user_id IS NOT NULL GROUP BY 1"
    ).fetchall()
    return dict(rows)


def busiest_user(conn: psycopg.Connection) -> str:
    return conn.execute(
        "SELECT user_id FROM spans WHERE user_id IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    ).fetchone()[0]


def test_deleting_a_user_removes_exactly_their_rows_and_is_audited(seeded):
    with connect(seeded) as conn:
        user = busiest_user(conn)
        # Log and metric rows that name the user in attributes only (no trace).
        conn.execute(
            "INSERT INTO log_records (time, service_name, body, attributes) VALUES "
            "(now(), 'svc', '\"x\"', %s), (now(), 'svc', '\"y\"', %s)",
            (Jsonb({"enduser.id": user}), Jsonb({"user.id": "someone-else"})),
        )
        conn.execute(
            "INSERT INTO metric_points (time, metric_name, metric_type, service_name, value, "
            "attributes) VALUES (now(), 'm', 'gauge', 'svc', 1, %s), "
            "(now(), 'm', 'gauge', 'svc', 1, %s)",
            (Jsonb({"user.id": user}), Jsonb({"user.id": "someone-else"})),
        )
        traces = [
            r[0]
            for r in conn.execute("SELECT DISTINCT trace_id FROM spans WHERE user_id = %s", (user,))
        ]
        expected = {
            "spans": conn.execute(
                "SELECT count(*) FROM spans WHERE trace_id = ANY(%s)", (traces,)
            ).fetchone()[0],
            "log_records": conn.execute(
                "SELECT count(*) FROM log_records WHERE trace_id = ANY(%s)", (traces,)
            ).fetchone()[0]
            + 1,
            "metric_points": 1,
        }
        assert expected["spans"] > 10
        before, users_before = totals(conn), spans_per_user(conn)
        # A dry run counts the same rows and changes nothing.
        assert deletion.count(conn, Selector(user=user)) == expected
        assert totals(conn) == before

        audit_id, deleted = deletion.delete(conn, Selector(user=user), "tester", batch_size=7)

        assert deleted == expected
        after = totals(conn)
        assert {t: before[t] - after[t] for t in TABLES} == expected
        users_after = spans_per_user(conn)
        assert user not in users_after
        assert users_after == {u: n for u, n in users_before.items() if u != user}
        assert (
            conn.execute(
                "SELECT count(*) FROM spans WHERE trace_id = ANY(%s)", (traces,)
            ).fetchone()[0]
            == 0
        )
        row = conn.execute(
            "SELECT requested_by, via, selector, status, rows_deleted, started_at <= finished_at "
            "FROM deletion_audit WHERE id = %s",
            (audit_id,),
        ).fetchone()
        assert row == ("tester", "cli", {"user": user}, "done", expected, True)
        # The other user's attribute rows stay.
        assert (
            conn.execute(
                "SELECT count(*) FROM log_records WHERE attributes->>'user.id' = 'someone-else'"
            ).fetchone()[0]
            == 1
        )


def test_service_before_a_time_and_a_single_trace(seeded):
    with connect(seeded) as conn:
        service, cut = conn.execute(
            "SELECT service_name, percentile_disc(0.5) WITHIN GROUP (ORDER BY start_time) "
            "FROM spans GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        older = conn.execute(
            "SELECT count(*) FROM spans WHERE service_name = %s AND start_time < %s", (service, cut)
        ).fetchone()[0]
        newer = conn.execute(
            "SELECT count(*) FROM spans WHERE service_name = %s AND start_time >= %s",
            (service, cut),
        ).fetchone()[0]
        _, deleted = deletion.delete(
            conn, Selector(service=service, before=cut), "t", batch_size=50
        )
        assert deleted["spans"] == older > 0
        left = conn.execute(
            "SELECT count(*), min(start_time) >= %s FROM spans WHERE service_name = %s",
            (cut, service),
        ).fetchone()
        assert left == (newer, True)

        trace, spans = conn.execute(
            "SELECT trace_id, count(*) FROM spans GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
        logs = conn.execute(
            "SELECT count(*) FROM log_records WHERE trace_id = %s", (trace,)
        ).fetchone()[0]
        total = totals(conn)
        _, deleted = deletion.delete(conn, Selector(trace=trace), "t")
        assert deleted == {"spans": spans, "log_records": logs, "metric_points": 0}
        assert totals(conn)["spans"] == total["spans"] - spans


def test_a_deletion_that_fails_is_audited_with_what_it_did(seeded, monkeypatch):
    with connect(seeded) as conn:
        user = busiest_user(conn)

        def boom(self, table, chunk, where, params):
            if table == "log_records":
                raise psycopg.errors.QueryCanceled("statement timeout")
            return original(self, table, chunk, where, params)

        original = deletion.Deleter._chunk
        monkeypatch.setattr(deletion.Deleter, "_chunk", boom)
        with pytest.raises(psycopg.errors.QueryCanceled):
            deletion.delete(conn, Selector(user=user), "t")
        status, rows, error = conn.execute(
            "SELECT status, rows_deleted, error FROM deletion_audit ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert status == "failed" and rows["spans"] > 0 and rows["log_records"] == 0
        assert "QueryCanceled" in error


def test_the_readonly_role_can_only_ask_and_maintenance_carries_it_out(
    seeded, with_role, readonly_role
):
    readonly = with_role(seeded, readonly_role)
    with connect(seeded) as owner:
        user = busiest_user(owner)
        expected = deletion.count(owner, Selector(user=user))

    async def ask() -> dict:
        async with await psycopg.AsyncConnection.connect(readonly, autocommit=True) as conn:
            await conn.execute("SET default_transaction_read_only = on")  # as the role has it
            return await deletion_requests.submit(conn, SECRET, "admin-1", Selector(user=user))

    request = asyncio.run(ask())
    assert request["status"] == "pending"
    with connect(readonly) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE deletion_audit SET status = 'done'")
    with connect(readonly) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(
            "INSERT INTO deletion_audit (requested_by, selector, status) VALUES ('x', '{}', 'done')"
        )
    with connect(readonly) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM spans")
    # A row Grafana's role could insert, unsigned: refused, nothing deleted.
    with connect(readonly) as conn:
        conn.execute(
            "INSERT INTO deletion_audit (requested_by, selector, nonce, signature) "
            "VALUES ('grafana', '{\"service\": \"rag-service\"}', 'n-1', 'deadbeef')"
        )
    with connect(seeded) as owner:
        before = totals(owner)
        handled = deletion_requests.process_pending(owner, SECRET, 100)
        assert len(handled) == 2
        rows = {
            who: (status, counts)
            for who, status, counts in owner.execute(
                "SELECT requested_by, status, rows_deleted FROM deletion_audit"
            )
        }
        assert rows["admin-1"] == ("done", expected)
        assert rows["grafana"] == ("refused", {})
        assert {t: before[t] - n for t, n in totals(owner).items()} == {
            t: expected[t] for t in TABLES
        }
        assert deletion_requests.process_pending(owner, SECRET, 100) == []


@pytest.fixture(scope="module")
def export_db(database_factory: Callable[[], str]) -> str:
    url = database_factory()
    migrate.upgrade(url)
    asyncio.run(seed(url, 800, days=2, seed_value=5))
    return url


WINDOW = (datetime.now(UTC) - timedelta(days=3), datetime.now(UTC) + timedelta(days=1))


@pytest.mark.parametrize("fmt", export.FORMATS)
@pytest.mark.parametrize("by_user", [False, True], ids=["all", "one-user"])
def test_export_row_counts_match_the_database(export_db, fmt, by_user):
    with connect(export_db) as conn:
        user = busiest_user(conn) if by_user else None
        where = export.ExportFilter(*WINDOW, user=user)
        expected = conn.execute(
            "SELECT count(*) FROM spans WHERE start_time >= %s AND start_time < %s "
            "AND (%s::text IS NULL OR user_id = %s)",
            (*WINDOW, user, user),
        ).fetchone()[0]
    out = io.BytesIO()
    with psycopg.connect(export_db) as conn:
        rows = export.export(conn, where, fmt, out, page_rows=97)
    data = out.getvalue()
    if fmt == "jsonl":
        found = len(data.splitlines())
    elif fmt == "csv":
        found = len(list(csv.reader(io.StringIO(data.decode())))) - 1
    else:
        import pyarrow.parquet as pq

        found = pq.read_table(io.BytesIO(data)).num_rows
    assert rows == found == expected > 0


def test_exported_values_are_the_stored_ones(export_db):
    with connect(export_db) as conn:
        stored = conn.execute(
            "SELECT trace_id, span_id, input_messages, cost_usd, attributes FROM spans "
            "WHERE is_llm AND cost_usd IS NOT NULL AND input_messages IS NOT NULL LIMIT 1"
        ).fetchone()
    out = io.BytesIO()
    with psycopg.connect(export_db) as conn:
        export.export(conn, export.ExportFilter(*WINDOW), "jsonl", out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert list(lines[0]) == list(export.COLUMNS)
    row = next(r for r in lines if (r["trace_id"], r["span_id"]) == stored[:2])
    assert row["input_messages"] == stored[2] and row["attributes"] == stored[4]
    assert Decimal(str(row["cost_usd"])) == stored[3]
    import pyarrow.parquet as pq

    out = io.BytesIO()
    with psycopg.connect(export_db) as conn:
        export.export(conn, export.ExportFilter(*WINDOW), "parquet", out)
    table = pq.read_table(io.BytesIO(out.getvalue()))
    assert str(table.schema.field("cost_usd").type) == "decimal128(18, 9)"
    assert str(table.schema.field("start_time").type) == "timestamp[us, tz=UTC]"
    assert stored[3] in set(table.column("cost_usd").to_pylist())


def test_the_api_export_streams_the_same_lines(export_db, with_role, readonly_role):
    async def stream() -> bytes:
        url = with_role(export_db, readonly_role)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            chunks = [c async for c in export.stream_jsonl(conn, export.ExportFilter(*WINDOW), 50)]
        return b"".join(chunks)

    out = io.BytesIO()
    with psycopg.connect(export_db) as conn:
        export.export(conn, export.ExportFilter(*WINDOW), "jsonl", out)
    assert asyncio.run(stream()) == out.getvalue()


def test_budget_spend_is_the_sum_of_the_periods_costs(export_db, with_role, readonly_role):
    config = budgets.parse_budgets(
        "budgets:\n  - {name: all, period: daily, limit_usd: 1}\n"
        "  - {name: month, period: monthly, limit_usd: 1000}\n"
        "  - {name: svc, period: daily, limit_usd: 1, service: code-assistant}\n"
    )
    now = datetime.now(UTC)
    day, _, month, _ = budgets.periods(now, UTC)

    async def evaluate() -> list[budgets.BudgetStatus]:
        async with await psycopg.AsyncConnection.connect(export_db, autocommit=True) as conn:
            statuses = await budgets.BudgetEvaluator(config).evaluate(conn, now)
            await budgets.write_status(conn, statuses)
            return statuses

    statuses = {s.name: s.spend_usd for s in asyncio.run(evaluate())}
    with connect(export_db) as conn:
        spend = "SELECT coalesce(sum(cost_usd), 0) FROM spans WHERE is_llm AND start_time >= %s"
        assert statuses["all"] == conn.execute(spend, (day,)).fetchone()[0]
        assert statuses["month"] == conn.execute(spend, (month,)).fetchone()[0]
        assert (
            statuses["svc"]
            == conn.execute(spend + " AND service_name = 'code-assistant'", (day,)).fetchone()[0]
        )
    assert statuses["all"] > 0
    with connect(with_role(export_db, readonly_role)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM budget_status ORDER BY name")]
    assert names == ["all", "month", "svc"]
