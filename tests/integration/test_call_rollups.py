"""llm_call_rollups and llm_usage_rollups against TimescaleDB: kept by the writer,
re-summed by deletion, expired by retention, and the users', models' and usage answers
read from them.

The expected rows and answers are computed here from `spans` by queries of this
test's own, not by storage/call_rollups.py or api/queries (the latency buckets'
definition, storage/latency_buckets.py, is checked on its own): what the writers
merged batch by batch, concurrently, must equal what the stored calls say.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.params import UsageQuery, UserQuery
from llm_observatory.api.queries import groups, usage
from llm_observatory.cli.demo_data import DemoData
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.signals import TRACES
from llm_observatory.storage import deletion, latency_buckets, retention
from llm_observatory.storage.deletion import Selector
from llm_observatory.storage.writer import TableWriter
from tests.support.latency import at_rank, close_enough
from tests.support.span_records import span_record

BIGINT_MAX = 2**63 - 1  # token sums are held there
_SUMS = f"""count(*) AS llm_calls,
       least(coalesce(sum(input_tokens), 0), {BIGINT_MAX}) AS input_tokens,
       least(coalesce(sum(output_tokens), 0), {BIGINT_MAX}) AS output_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       count(*) FILTER (WHERE status_code = 'error') AS errors"""
_HOUR = "date_trunc('hour', start_time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
KEY = "service_name, provider, model, user_id, conversation_id"
EXPECTED = f"""
SELECT {_HOUR} AS hour, {KEY}, min(start_time) AS first_seen, max(start_time) AS last_seen,
       {_SUMS}
FROM spans WHERE is_llm GROUP BY 1, {KEY}
"""
STORED = f"""
SELECT hour, {KEY}, first_seen, last_seen, llm_calls, input_tokens, output_tokens,
       cost_usd, errors FROM llm_call_rollups
"""
USAGE_KEY = "service_name, provider, model"
USAGE_EXPECTED = f"""
SELECT {_HOUR} AS hour, {USAGE_KEY},
       {latency_buckets.bucket_sql("duration_ms")} AS latency_bucket, {_SUMS}
FROM spans WHERE is_llm GROUP BY 1, {USAGE_KEY}, 5
"""
USAGE_STORED = f"""
SELECT hour, {USAGE_KEY}, latency_bucket, llm_calls, input_tokens, output_tokens, cost_usd,
       errors FROM llm_usage_rollups
"""


def assert_rollups_equal_calls(url: str) -> None:
    assert rows(url, STORED) == rows(url, EXPECTED)
    assert rows(url, USAGE_STORED) == rows(url, USAGE_EXPECTED)


def rows(url: str, query: str) -> list[dict]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        found = conn.execute(query).fetchall()
    for row in found:  # numeric sums compare by value, whatever their scale
        row["cost_usd"] = Decimal(row["cost_usd"]).normalize()
    return sorted(found, key=lambda r: [str(v) for v in r.values()])


def write(url: str, batches: list[list[SpanRecord]], writers: int = 1) -> int:
    """Write the batches with `writers` concurrent writers; the spans inserted."""

    async def main() -> int:
        async with AsyncConnectionPool(url, min_size=1, max_size=writers, open=False) as pool:
            writer = TableWriter(pool, TRACES)
            queue = list(batches)

            async def drain() -> int:
                done = 0
                while queue:
                    done += await writer.write(queue.pop(0))
                return done

            return sum(await asyncio.gather(*(drain() for _ in range(writers))))

    return asyncio.run(main())


def demo_spans(count: int, seed: int, days: float = 1) -> list[SpanRecord]:
    spans: list[SpanRecord] = []
    for batch, _ in DemoData(seed=seed, days=days).batches(count, 100):
        spans += batch
    return spans


def test_rollups_equal_their_calls_written_concurrently_in_any_order(fresh):
    owner, app = fresh
    spans = demo_spans(1200, seed=4)
    random.Random(8).shuffle(spans)
    batches = [spans[i : i + 40] for i in range(0, len(spans), 40)]
    # An exporter's retry: a batch already stored, and one half stored, half new.
    again = [*batches[3], *batches[-1][:10]]
    assert write(app, [*batches[:-1], again, batches[-1]], writers=3) == len(spans)

    assert_rollups_equal_calls(owner)
    for query in (EXPECTED, USAGE_EXPECTED):
        expected = rows(owner, query)
        assert len(expected) > 50
        assert any(r["llm_calls"] > 1 for r in expected), "rows sum several calls"


def test_keys_that_read_alike_stay_apart_and_hostile_values_fail_nothing(fresh, fetch):
    owner, app = fresh
    start = 1_700_000_000_000_000_000
    alike = [
        {"user_id": None, "conversation_id": "a"},
        {"user_id": "a", "conversation_id": None},
        {"user_id": "", "conversation_id": "a"},
        {"user_id": "1:a;", "conversation_id": None},
        {"user_id": "1", "conversation_id": "a;"},
    ]
    spans = [
        span_record("alike", i, start_ns=start + i, is_llm=True, model="m", **fields)
        for i, fields in enumerate(alike)
    ]
    long = "é" * 2048  # five of them: far beyond one index entry
    spans += [
        span_record(
            "long",
            i,
            start_ns=start + 10 + i,
            is_llm=True,
            service_name=long,
            provider=long,
            model=long,
            user_id=long,
            conversation_id=long,
            input_tokens=2**62,
        )
        for i in range(3)
    ]
    assert write(app, [spans[:4], spans[4:]]) == len(spans)
    assert_rollups_equal_calls(owner)
    assert fetch(owner, "SELECT count(*) AS n FROM llm_call_rollups")[0]["n"] == len(alike) + 1
    (held,) = fetch(owner, "SELECT input_tokens FROM llm_call_rollups WHERE model <> 'm'")
    assert held["input_tokens"] == BIGINT_MAX  # held at bigint's maximum, not an error
    (held,) = fetch(owner, "SELECT input_tokens FROM llm_usage_rollups WHERE model <> 'm'")
    assert held["input_tokens"] == BIGINT_MAX
    assert fetch(owner, "SELECT count(*) AS n FROM rejected_records")[0]["n"] == 0


def test_deletion_sums_again_the_hours_it_deleted_from(fresh, fetch):
    owner, app = fresh
    spans = demo_spans(900, seed=12)
    write(app, [spans[i : i + 60] for i in range(0, len(spans), 60)])
    user = fetch(owner, "SELECT user_id FROM spans WHERE is_llm AND user_id IS NOT NULL LIMIT 1")
    service = fetch(owner, "SELECT service_name FROM spans WHERE is_llm LIMIT 1")
    with psycopg.connect(owner, autocommit=True) as conn:
        deletion.delete(conn, Selector(user=user[0]["user_id"]), "tester")
        assert_rollups_equal_calls(owner)
        deletion.delete(conn, Selector(service=service[0]["service_name"]), "tester")
    assert_rollups_equal_calls(owner)
    left = rows(owner, STORED)
    assert user[0]["user_id"] not in {r["user_id"] for r in left}
    assert service[0]["service_name"] not in {r["service_name"] for r in left}


def test_retention_drops_the_hours_of_the_chunks_it_dropped(fresh, fetch):
    owner, app = fresh
    now = datetime.now(UTC)
    # Calls every 50 minutes over the last 12 days: hours on both sides of every
    # chunk boundary.
    spans = [
        span_record(
            "calls",
            i,
            start_ns=int((now - timedelta(minutes=50 * i)).timestamp() * 1e9),
            is_llm=True,
            model="m",
            user_id=f"user-{i % 3}",
        )
        for i in range(12 * 24 * 60 // 50)
    ]
    write(app, [spans[i : i + 50] for i in range(0, len(spans), 50)])

    async def enforce() -> tuple[int, ...]:
        async with await psycopg.AsyncConnection.connect(owner, autocommit=True) as conn:
            dropped = await retention.apply_retention(conn, 5)
            assert dropped > 0
            return await retention.expire_summaries(conn)

    _, *expired = asyncio.run(enforce())
    assert len(expired) == 2 and min(expired) > 0, expired
    assert_rollups_equal_calls(owner)


class _Db:
    """The API's queries over one connection (the API's pool is not needed here)."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn

    async def fetch_all(self, query: Any, params: Any = None) -> list[dict[str, Any]]:
        return await (await self.conn.execute(query, params)).fetchall()


USER_TOTALS = """
SELECT user_id, min(start_time) AS first_seen, max(start_time) AS last_seen,
       count(*) AS llm_calls, count(DISTINCT conversation_id) AS sessions,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
       count(*) FILTER (WHERE status_code = 'error') AS errors
FROM spans
WHERE is_llm AND user_id IS NOT NULL AND start_time >= %(start)s AND start_time < %(end)s
  AND (%(model)s::text IS NULL OR model = %(model)s)
GROUP BY user_id ORDER BY max(start_time) DESC, user_id DESC
"""


def test_users_answer_exactly_over_whole_and_partial_hours(fresh):
    _, app = fresh
    spans = demo_spans(1500, seed=21, days=0.5)
    write(app, [spans[i : i + 100] for i in range(0, len(spans), 100)])
    first = min(s.start_time_unix_nano for s in spans) // 1000
    last = max(s.start_time_unix_nano for s in spans) // 1000
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    model = next(s.model for s in spans if s.is_llm and s.user_id)
    rng = random.Random(2)
    ranges: list[tuple[datetime | None, datetime | None, str | None]] = [(None, None, None)]
    ranges += [(None, None, model)]
    for _ in range(12):  # ranges in and across hours, at any microsecond
        a, b = sorted(rng.randint(first - 10**9, last + 10**9) for _ in range(2))
        ranges.append((epoch + timedelta(microseconds=a), epoch + timedelta(microseconds=b), None))
    hour = epoch + timedelta(microseconds=first)
    hour = hour.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    ranges += [(hour, hour + timedelta(hours=3), model), (hour, None, None), (None, hour, None)]

    async def check() -> int:
        async with await psycopg.AsyncConnection.connect(app, row_factory=dict_row) as conn:
            db = _Db(conn)
            compared = 0
            for start, end, chosen in ranges:
                params = {
                    "start": start or datetime.min.replace(tzinfo=UTC),
                    "end": end or datetime.max.replace(tzinfo=UTC),
                    "model": chosen,
                }
                expected = await db.fetch_all(USER_TOTALS, params)
                given = {"from": start, "to": end, "model": chosen}
                query = UserQuery.parse({k: v for k, v in given.items() if v}, limit=500)
                found = [item.model_dump() for item in (await groups.list_users(db, query)).items]
                for row in expected:
                    row["cost_usd"] = pytest.approx(row["cost_usd"])
                assert found == expected, (start, end, chosen)
                compared += len(expected)
                if not any(given.values()):  # a user's own figures are all-time
                    for row in expected[:5]:
                        assert await groups.user_summary(db, row["user_id"]) == row
            models = await usage.models(db)
            by_model = {m.model: m.requests for m in models}
            assert by_model[model] == sum(1 for s in spans if s.is_llm and s.model == model)
            return compared

    assert asyncio.run(check()) > 100


def test_latency_buckets_read_within_their_relative_error(fetch, fresh):
    owner, _ = fresh
    rng = random.Random(5)
    durations = [0.0, 1e-7, 1e-6, 1.5e-6, 0.001, 1.0, 2.0, 1024.0, 2**0.125, 2**10.375]
    durations += [10 ** rng.uniform(-6, 13) for _ in range(2000)]
    found = fetch(
        owner,
        f"SELECT d, {latency_buckets.bucket_sql('d')} AS bucket, "
        f"{latency_buckets.value_sql(latency_buckets.bucket_sql('d'))} AS value "
        "FROM unnest(%(durations)s::float8[]) d ORDER BY d",
        {"durations": durations},
    )
    assert len(found) == len(durations)
    buckets = [row["bucket"] for row in found]
    assert buckets == sorted(buckets), "a longer call is never in a lower bucket"
    for row in found:
        if row["d"] <= 1e-6:  # below the resolution of OTLP's timestamps
            assert row["bucket"] == latency_buckets.ZERO_BUCKET and row["value"] == 0
        else:
            assert abs(row["value"] - row["d"]) <= row["d"] * latency_buckets.RELATIVE_ERROR * (
                1 + 1e-9
            ), row
    assert len(set(buckets)) > 150


USAGE_CALLS = """
SELECT start_time, service_name, provider, model, duration_ms, input_tokens, output_tokens,
       cost_usd, status_code FROM spans WHERE is_llm
"""


def _usage_expected(calls: list[dict], query: UsageQuery) -> list[dict]:
    """The usage answer computed in Python from the calls: exact sums, and each
    percentile as the latency of the call at rank q x (n - 1) from the fastest."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    column = usage.GROUP_COLUMNS[query.group_by]
    groups_: dict[tuple, list[dict]] = {}
    for call in calls:
        if query.start <= call["start_time"] < query.end:
            start = call["start_time"]
            bucket = epoch + (start - epoch) // query.bucket_width * query.bucket_width
            groups_.setdefault((bucket, call[column]), []).append(call)
    answer = []
    for (bucket, key), group in groups_.items():
        latencies = [c["duration_ms"] for c in group]
        answer.append(
            {
                "bucket": bucket,
                "key": key,
                "requests": len(group),
                "input_tokens": sum(c["input_tokens"] or 0 for c in group),
                "output_tokens": sum(c["output_tokens"] or 0 for c in group),
                "cost_usd": pytest.approx(float(sum(c["cost_usd"] or 0 for c in group))),
                "error_rate": pytest.approx(
                    sum(c["status_code"] == "error" for c in group) / len(group)
                ),
                "p50_latency_ms": at_rank(latencies, "0.5"),
                "p95_latency_ms": at_rank(latencies, "0.95"),
            }
        )
    return answer


def test_usage_answers_from_rollups_and_calls_as_from_every_call(fresh, fetch):
    _, app = fresh
    spans = demo_spans(3000, seed=33, days=2)
    write(app, [spans[i : i + 150] for i in range(0, len(spans), 150)])
    calls = fetch(app, USAGE_CALLS)
    first = min(c["start_time"] for c in calls)
    last = max(c["start_time"] for c in calls)
    rng = random.Random(9)
    cases = []
    for interval in ("1m", "1h", "1d"):
        for group_by in ("model", "provider", "service"):
            for _ in range(3):  # ranges at any microsecond, in and across hours and days
                a, b = sorted(rng.uniform(-0.1, 1.1) for _ in range(2))
                start = first + (last - first) * a
                end = max(first + (last - first) * b, start + timedelta(microseconds=1))
                if interval == "1m":
                    end = min(end, start + timedelta(hours=6))  # within MAX_BUCKETS
                cases.append(UsageQuery.parse(group_by, interval, start, end))
    hour = first.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    cases.append(UsageQuery.parse("model", "1h", hour, hour + timedelta(hours=12)))  # whole

    async def check() -> int:
        async with await psycopg.AsyncConnection.connect(app, row_factory=dict_row) as conn:
            db = _Db(conn)
            compared = 0
            for query in cases:
                found = [row.model_dump() for row in await usage.usage(db, query)]
                assert [r["bucket"] for r in found] == sorted(r["bucket"] for r in found)
                expected = {(r["bucket"], r["key"]): r for r in _usage_expected(calls, query)}
                assert {(r["bucket"], r["key"]) for r in found} == set(expected), query
                for got in found:
                    want = expected[got["bucket"], got["key"]]
                    for name in ("p50_latency_ms", "p95_latency_ms"):
                        assert close_enough(got.pop(name), want.pop(name)), (query, name)
                    assert got == want, query
                compared += len(expected)
            return compared

    assert asyncio.run(check()) > 300
