"""Deletion selectors, the SQL they make, the batch loop, signed API requests, audit rows.

The row counts against real data are in tests/integration/test_governance_db.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from llm_observatory.storage import deletion, deletion_requests
from llm_observatory.storage.deletion import Chunk, Deleter, Selector, SelectorError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "say whose data"),
        ({"before": T0}, "say whose data"),
        ({"user": ""}, "user must be a non-empty string"),
        ({"user": "   "}, "user must be a non-empty string"),
        ({"service": "a\x00b"}, "service must be a non-empty string"),
        ({"trace": "x" * 1025}, "trace is longer than 1024"),
        ({"user": "u", "before": datetime(2026, 1, 1)}, "before must carry a time zone"),
    ],
)
def test_a_selector_must_say_whose_data(kwargs, message):
    with pytest.raises(SelectorError, match=message):
        Selector(**kwargs)


def test_a_selector_round_trips_through_its_json():
    selector = Selector(
        user="u-1",
        service="bot",
        before=datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
    )
    stored = selector.as_json()
    assert stored == {"user": "u-1", "service": "bot", "before": "2026-01-01T00:00:00+00:00"}
    assert Selector.from_json(stored) == Selector(user="u-1", service="bot", before=T0)
    assert selector.describe() == "user=u-1, service=bot, before=2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "stored",
    [[], "x", {}, {"user": "u", "table": "spans"}, {"user": 3}, {"user": "u", "before": "soon"}],
)
def test_a_stored_selector_that_is_not_one_is_refused(stored):
    with pytest.raises((SelectorError, TypeError)):
        Selector.from_json(stored)


def text(composable) -> str:
    return composable.as_string(None)


def test_user_traces_come_from_both_partial_indexes_and_criteria_intersect():
    found = deletion.trace_set_sql(Selector(user="u", conversation="c", before=T0))
    assert found is not None
    query, params = found
    sql = text(query)
    # LLM calls (0005's index) and the other spans (0006's), for each id.
    assert sql.count("WHERE is_llm AND") == 2 and sql.count("WHERE NOT is_llm AND") == 2
    assert sql.count(" INTERSECT ") == 1
    assert params == ["u", T0, "u", T0, "c", T0, "c", T0]
    assert deletion.trace_set_sql(Selector(service="bot")) is None


def test_what_each_table_loses():
    traces = deletion.sql.SQL("SELECT trace_id FROM t")
    user = Selector(user="u")
    spans, params = deletion.row_predicate(user, "spans", traces, [])
    assert text(spans) == "trace_id IN (SELECT trace_id FROM t)" and params == []
    logs, params = deletion.row_predicate(user, "log_records", traces, [])
    assert text(logs).startswith("(trace_id IN (SELECT trace_id FROM t) OR (attributes->>%s")
    assert params[::2] == list(deletion.USER_ATTRIBUTES) and set(params[1::2]) == {"u"}
    metrics, params = deletion.row_predicate(user, "metric_points", traces, [])
    assert "trace_id" not in text(metrics) and len(params) == 2 * len(deletion.USER_ATTRIBUTES)
    # Metrics carry no trace id: a trace's deletion leaves them.
    metrics, _ = deletion.row_predicate(Selector(trace="t1"), "metric_points", traces, [])
    assert text(metrics) == "false"
    # A service alone: its rows in every table, older than `before`.
    where, params = deletion.row_predicate(
        Selector(service="s", before=T0), "log_records", traces, []
    )
    assert text(where) == 'service_name = %s AND "time" < %s' and params == ["s", T0]


def test_slices_cover_the_chunk_up_to_before():
    chunk = Chunk("s", "c", T0, T0 + timedelta(days=1), False)
    whole = list(deletion.slices(chunk, None))
    assert len(whole) == 24 and whole[0][0] == T0 and whole[-1][1] == chunk.end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(whole))
    cut = list(deletion.slices(chunk, T0 + timedelta(hours=2, minutes=30)))
    assert cut[-1] == (T0 + timedelta(hours=2), T0 + timedelta(hours=2, minutes=30))
    assert list(deletion.slices(chunk, T0 - timedelta(hours=1))) == []


class Recorder:
    """A connection that records statements and deletes `per_batch` rows each time."""

    autocommit = True

    def __init__(self, chunks, per_batch: list[int]) -> None:
        self.chunks = chunks
        self.per_batch = per_batch
        self.statements: list[str] = []

    def execute(self, statement, params=None):
        sql = statement if isinstance(statement, str) else text(statement)
        self.statements.append(sql)
        recorder = self

        class Result:
            rowcount = (
                recorder.per_batch.pop(0) if sql.startswith("DELETE") and recorder.per_batch else 0
            )

            def fetchall(self):
                return recorder.chunks if "timescaledb_information.chunks" in sql else []

        return Result()

    def transaction(self):
        import contextlib

        return contextlib.nullcontext()


def test_an_uncompressed_chunk_is_deleted_from_in_batches_until_a_short_one():
    chunk = ("_timescaledb_internal", "_hyper_1_1_chunk", T0, T0 + timedelta(hours=1), False)
    conn = Recorder([chunk], per_batch=[10, 10, 3])
    deleter = Deleter(conn, Selector(service="bot"), batch_size=10)  # type: ignore[arg-type]
    deleted = deleter.run()
    deletes = [s for s in conn.statements if s.startswith("DELETE")]
    # spans: 10, 10, 3 (short: the slice is done); logs and metrics: one empty batch each;
    # then the summaries of the traces deleted from, rebuilt, and both call rollups of
    # the hours deleted from.
    assert deleted == {"spans": 23, "log_records": 0, "metric_points": 0}
    assert len(deletes) == 8
    assert deletes[-3] == (
        'DELETE FROM "trace_summaries" WHERE trace_id IN '
        '(SELECT trace_id FROM pg_temp."llmo_deletion_touched")'
    )
    for rollup in ("llm_call_rollups", "llm_usage_rollups"):
        assert f'DELETE FROM "{rollup}" r USING (SELECT hour, ' in " ".join(deletes[-2:])
    summaries = conn.statements.index(deletes[-3])
    assert conn.statements[summaries + 1].startswith("INSERT INTO trace_summaries AS t")
    assert conn.statements[summaries + 3].startswith("INSERT INTO llm_call_rollups AS t")
    assert conn.statements[summaries + 5].startswith("INSERT INTO llm_usage_rollups AS t")
    assert deletes[0].startswith(
        'DELETE FROM "_timescaledb_internal"."_hyper_1_1_chunk" WHERE ctid = ANY(ARRAY('
    )
    assert "LIMIT 10))" in deletes[0]
    assert conn.statements[0] == f"SET lock_timeout = '{deletion.LOCK_TIMEOUT}'"


def test_a_compressed_chunk_is_deleted_from_through_the_hypertable_an_hour_at_a_time():
    # The licensed build: TimescaleDB decompresses only the batches each hour touches.
    chunk = ("_timescaledb_internal", "_hyper_1_2_chunk", T0, T0 + timedelta(hours=3), True)
    conn = Recorder([chunk], per_batch=[])
    Deleter(conn, Selector(user="u"), batch_size=10).run()  # type: ignore[arg-type]
    deletes = [
        s
        for s in conn.statements
        if s.startswith("DELETE")
        and not any(t in s for t in ("trace_summaries", "llm_call_rollups", "llm_usage_rollups"))
    ]
    assert len(deletes) == 3 * 3  # three hours, three tables
    assert all("ctid" not in s and "_hyper_" not in s for s in deletes)
    assert deletes[0].startswith(
        'DELETE FROM "spans" WHERE "start_time" >= %s AND "start_time" < %s'
    )
    assert deletes[3].startswith('DELETE FROM "log_records" WHERE "time" >= %s')


def test_a_deleter_needs_autocommit():
    conn = Recorder([], [])
    conn.autocommit = False
    with pytest.raises(ValueError, match="autocommit"):
        Deleter(conn, Selector(user="u")).run()  # type: ignore[arg-type]


SECRET = "unit-test-secret-0123456789abcdef"


def test_a_signed_request_verifies_and_any_change_breaks_it():
    body = Selector(user="alice").as_json()
    signature = deletion_requests.sign(SECRET, "n1", "admin", body)
    assert deletion_requests.verify(SECRET, "n1", "admin", body, signature)
    assert not deletion_requests.verify(SECRET, "n2", "admin", body, signature)
    assert not deletion_requests.verify(SECRET, "n1", "mallory", body, signature)
    assert not deletion_requests.verify(SECRET, "n1", "admin", {"user": "bob"}, signature)
    assert not deletion_requests.verify("another-secret", "n1", "admin", body, signature)
    assert not deletion_requests.verify(SECRET, "n1", "admin", "not a dict", signature)
    # Key order does not matter: jsonb gives the selector back in its own order.
    two = {"user": "a", "service": "s"}
    assert deletion_requests.verify(
        SECRET, "n", "x", dict(reversed(two.items())), deletion_requests.sign(SECRET, "n", "x", two)
    )


@pytest.mark.parametrize(
    ("nonce", "signature", "selector", "reason"),
    [
        (None, None, {"user": "u"}, "signature does not verify"),
        ("n", "forged", {"user": "u"}, "signature does not verify"),
        ("n", "SIGN", {"table": "spans"}, "not a valid selector"),
        ("n", "SIGN", {}, "not a valid selector"),
    ],
)
def test_requests_are_refused_unless_signed_and_valid(nonce, signature, selector, reason):
    if signature == "SIGN":
        signature = deletion_requests.sign(SECRET, nonce, "admin", selector)
    request = deletion_requests.Request(1, "admin", selector, nonce, signature)
    problem = deletion_requests._check(request, SECRET)
    assert isinstance(problem, str) and reason in problem


def test_a_valid_request_gives_its_selector():
    body = {"conversation": "c-1"}
    request = deletion_requests.Request(
        1, "admin", body, "n", deletion_requests.sign(SECRET, "n", "admin", body)
    )
    assert deletion_requests._check(request, SECRET) == Selector(conversation="c-1")
