"""trace_summaries against TimescaleDB: kept by the writer, rebuilt by deletion, expired.

The expected summaries are computed here from `spans` by a query of this test's own,
not by storage/trace_summaries.py: what the writer merged batch by batch must equal
what the stored spans say, whatever order they arrived in.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from llm_observatory.cli.demo_data import DemoData
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.signals import TRACES
from llm_observatory.storage import deletion, retention
from llm_observatory.storage.deletion import Selector
from llm_observatory.storage.trace_summaries import VALUE_SETS
from llm_observatory.storage.writer import TableWriter
from tests.support.span_records import span_record

EXPECTED = """
WITH roots AS (
    SELECT DISTINCT ON (trace_id) trace_id, span_id, name, service_name, start_time, duration_ms
    FROM spans WHERE parent_span_id IS NULL ORDER BY trace_id, start_time, span_id
), totals AS (
    SELECT trace_id, min(start_time) AS first_seen, max(start_time) AS last_seen,
           max(end_time) AS last_end, count(*) AS span_count,
           count(*) FILTER (WHERE is_llm) AS llm_calls,
           coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0) AS input_tokens,
           coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0) AS output_tokens,
           coalesce(sum(cost_usd) FILTER (WHERE is_llm), 0) AS cost_usd,
           bool_or(status_code = 'error') AS has_error,
           coalesce(array_agg(DISTINCT model ORDER BY model)
                    FILTER (WHERE is_llm AND model IS NOT NULL), '{}') AS models,
           coalesce(array_agg(DISTINCT provider ORDER BY provider)
                    FILTER (WHERE is_llm AND provider IS NOT NULL), '{}') AS providers,
           coalesce(array_agg(DISTINCT user_id ORDER BY user_id)
                    FILTER (WHERE is_llm AND user_id IS NOT NULL), '{}') AS user_ids,
           coalesce(array_agg(DISTINCT conversation_id ORDER BY conversation_id)
                    FILTER (WHERE is_llm AND conversation_id IS NOT NULL), '{}') AS conversation_ids
    FROM spans GROUP BY trace_id
)
SELECT t.trace_id, r.span_id AS root_span_id, r.name AS root_name, r.service_name,
       r.start_time, r.duration_ms, t.first_seen, t.last_seen, t.last_end, t.span_count,
       t.llm_calls, t.input_tokens, t.output_tokens, t.cost_usd, t.has_error, t.models,
       t.providers, t.user_ids, t.conversation_ids
FROM totals t LEFT JOIN roots r USING (trace_id) ORDER BY t.trace_id
"""
STORED = """
SELECT trace_id, root_span_id, root_name, service_name, start_time, duration_ms, first_seen,
       last_seen, last_end, span_count, llm_calls, input_tokens, output_tokens, cost_usd,
       has_error, models, providers, user_ids, conversation_ids
FROM trace_summaries ORDER BY trace_id
"""


def rows(url: str, query: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        found = conn.execute(query).fetchall()
    for row in found:  # numeric sums compare by value, whatever their scale
        row["cost_usd"] = Decimal(row["cost_usd"]).normalize()
    return found


def write(url: str, batches: list[list[SpanRecord]]) -> list[int]:
    async def main() -> list[int]:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            writer = TableWriter(pool, TRACES)
            return [await writer.write(batch) for batch in batches]

    return asyncio.run(main())


def demo_spans(count: int, seed: int = 5) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    for batch, _ in DemoData(seed=seed, days=1).batches(count, 100):
        spans += batch
    return spans


def test_summaries_equal_their_spans_whatever_the_order_they_arrive_in(fresh):
    owner, app = fresh
    spans = demo_spans(900)
    random.Random(3).shuffle(spans)  # children before their roots, traces across batches
    batches = [spans[i : i + 37] for i in range(0, len(spans), 37)]
    # An exporter's retry: a batch already stored, and one half stored, half new.
    again = [*batches[2], *batches[-1][:10]]
    inserted = write(app, [*batches[:-1], again, batches[-1]])
    assert sum(inserted) == len(spans)

    expected = rows(owner, EXPECTED)
    assert len(expected) > 100
    assert rows(owner, STORED) == expected
    several = [r for r in expected if r["span_count"] > 1 and r["llm_calls"]]
    assert several, "the demo data has traces of several spans with LLM calls"


def test_a_hostile_trace_stays_one_bounded_row_and_fails_nothing(fresh, fetch):
    owner, app = fresh
    huge = 2**62
    spans = [
        span_record(
            "hostile",
            i,
            is_llm=True,
            provider="openai",
            model=f"model-{i % 3}",
            user_id=f"user-{i:04d}",
            input_tokens=huge,
        )
        for i in range(1000)
    ]
    spans = [replace(s, trace_id=spans[0].trace_id, parent_span_id="aa" * 8) for s in spans]
    write(app, [spans[i : i + 40] for i in range(0, len(spans), 40)])

    (row,) = fetch(owner, "SELECT * FROM trace_summaries")
    assert row["span_count"] == len(spans)
    # Ids of 9 bytes, 4 more each for its length: the first that fit the budget, all
    # of them kept as later batches bring new ones.
    fitting = VALUE_SETS["user_ids"][1] // (9 + 4)
    assert row["user_ids"] == [f"user-{i:04d}" for i in range(fitting)]
    assert row["models"] == ["model-0", "model-1", "model-2"]
    assert row["input_tokens"] == 2**63 - 1  # held at bigint's maximum, not an error
    assert row["start_time"] is None  # no root: not listed, still summarised
    assert fetch(owner, "SELECT count(*) AS n FROM rejected_records")[0]["n"] == 0


def test_deletion_rebuilds_the_summaries_of_the_traces_it_deleted_from(fresh, fetch):
    owner, app = fresh
    spans = demo_spans(600, seed=9)
    write(app, [spans[i : i + 50] for i in range(0, len(spans), 50)])
    with psycopg.connect(owner, autocommit=True) as conn:
        trace = conn.execute(
            "SELECT trace_id FROM trace_summaries WHERE span_count > 1 LIMIT 1"
        ).fetchone()[0]
        service = conn.execute(
            "SELECT service_name FROM spans WHERE parent_span_id IS NOT NULL LIMIT 1"
        ).fetchone()[0]
        deletion.delete(conn, Selector(trace=trace), "tester")
        deletion.delete(conn, Selector(service=service), "tester")
    stored = rows(owner, STORED)
    assert trace not in {r["trace_id"] for r in stored}
    assert stored == rows(owner, EXPECTED)
    assert (
        fetch(owner, "SELECT count(*) AS n FROM spans WHERE service_name = %s", (service,))[0]["n"]
        == 0
    )


def test_retention_expires_the_summaries_of_traces_whose_spans_are_gone(fresh, fetch):
    owner, app = fresh
    old = [span_record("old", i, start_ns=1_600_000_000_000_000_000) for i in range(3)]
    new = [span_record("new", i) for i in range(3)]
    write(app, [old, new])
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("DELETE FROM spans WHERE name = 'old'")  # what drop_chunks does to them

    async def expire() -> int:
        async with await psycopg.AsyncConnection.connect(owner, autocommit=True) as conn:
            return (await retention.expire_summaries(conn))[0]

    assert asyncio.run(expire()) == 3
    assert {r["root_name"] for r in fetch(owner, STORED)} == {"new"}


def test_the_earliest_parentless_span_is_the_root_whenever_it_arrives(fresh, fetch):
    owner, app = fresh
    first, second, third = (
        span_record("roots", i, start_ns=1_700_000_000_000_000_000 + i * 10**9) for i in range(3)
    )
    trace = first.trace_id
    first, second, third = (replace(s, trace_id=trace) for s in (first, second, third))
    # The middle one first, then the earliest, then a later one.
    write(
        app,
        [
            [replace(second, name="second")],
            [replace(first, name="first")],
            [replace(third, name="third")],
        ],
    )
    (row,) = fetch(owner, "SELECT root_name, root_span_id, span_count FROM trace_summaries")
    assert (row["root_name"], row["root_span_id"], row["span_count"]) == ("first", first.span_id, 3)


def test_model_names_too_long_for_the_list_index_never_cost_a_span(fresh, fetch):
    # A btree entry holds at most ~2.7 kB: forty distinct 250-character model names in
    # one trace cannot all be in the traces list's index. The spans are stored anyway.
    owner, app = fresh
    rnd = random.Random(1)
    spans = [
        replace(
            span_record("long-models", i, is_llm=True, provider="openai"),
            model="".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(250)),
        )
        for i in range(40)
    ]
    spans = [replace(s, trace_id=spans[0].trace_id) for s in spans]
    assert sum(write(app, [spans[:20], spans[20:]])) == len(spans)
    assert fetch(owner, "SELECT count(*) AS n FROM rejected_records")[0]["n"] == 0
    (row,) = fetch(owner, "SELECT span_count, llm_calls, models FROM trace_summaries")
    assert (row["span_count"], row["llm_calls"]) == (40, 40)
    # One 250-byte name fits the budget: the first of the first batch's, which later
    # batches never push out.
    assert row["models"] == [min(s.model for s in spans[:20])]
