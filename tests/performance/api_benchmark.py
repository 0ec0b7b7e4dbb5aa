"""API benchmark: every list, filter and sort the UI offers, over demo data with messages.

    uv run python -m tests.performance.api_benchmark                 # seed 1M spans, measure
    uv run python -m tests.performance.api_benchmark --no-seed --tag TAG
    uv run python -m tests.performance.api_benchmark --ingest-only   # write cost, 0007 vs head

Seed: `--spans` spans over the last `--days` days from the shared demo-data builder
(cli/demo_data.py: conversations of agent traces with prompts, completions, tool calls,
errors and log records), written with storage's writers, services suffixed with a tag
of this run; then VACUUM ANALYZE (what autovacuum does to a freshly loaded table).
A million spans with messages need a database on a volume, not tmpfs (tmpfs pages
count against the container's memory limit).

Measure, through the API over HTTP (auth and rate limit included, as a client sees
it), `--repeat` times each: the trace list for every sort x filter combination (first
and next page), usage for the last 24 h for every group_by with a cache key of its own
each time (cold), trace by id, sessions, a session, users, a user, logs with their
filters, search. Prints p50 / p95 / max per query against the targets: lists < 150 ms,
cold usage < 100 ms, trace by id < 20 ms, search < 200 ms.

Ingest cost (`--ingest`, `--ingest-only`): in a scratch database, the write rate of the
same demo spans and log records (pre-encoded rows, batches of 1,000, a fresh table each
round): with the schema of revision 0007 by plain COPY (what storage's writer did
before trace summaries), and at head through storage's writer (COPY, the trace
summaries' merge and the call rollups' merge).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.auth import mint_token
from llm_observatory.cli.demo_data import DemoData
from llm_observatory.cli.seed import seed
from llm_observatory.core.rows import LOG_RECORDS, SPANS
from llm_observatory.core.settings import ApiSettings
from llm_observatory.storage import migrate
from llm_observatory.storage.writer import LogRecordWriter, SpanWriter

TARGETS_MS = {"list": 150.0, "usage": 100.0, "trace": 20.0, "search": 200.0}


# --- seed ---------------------------------------------------------------------------------


def seed_data(database_url: str, spans: int, days: float, tag: str) -> None:
    data = DemoData(seed=int(tag, 16) % 2**31, days=days, service_suffix=f"-{tag}")
    result = asyncio.run(seed(database_url, spans, days, batch_size=2000, data=data))
    print(
        f"  seeded {result.rows:,} spans and {result.log_records:,} log records in "
        f"{result.seconds:.0f}s ({result.rows_per_second:,.0f} spans/s)",
        flush=True,
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE spans")
        conn.execute("VACUUM ANALYZE log_records")
        print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.0f}s", flush=True)


# --- what to ask --------------------------------------------------------------------------


def sample_values(database_url: str, tag: str) -> dict[str, str]:
    """Filter values from the data: a busy and a rare model, a user, a session, words."""
    suffix = f"-{tag}" if tag else ""
    with psycopg.connect(database_url) as conn:

        def one(query: str, *params: object) -> str:
            row = conn.execute(query, params).fetchone()
            if row is None:
                raise SystemExit(f"no data for: {query}")
            return row[0]

        models = conn.execute(
            "SELECT model, count(*) FROM spans WHERE is_llm AND operation = 'chat' "
            "AND service_name LIKE %s GROUP BY model ORDER BY 2 DESC",
            (f"%{suffix}",),
        ).fetchall()
        service = one(
            "SELECT service_name FROM spans WHERE service_name LIKE %s LIMIT 1",
            f"support-agent{suffix}",
        )
        session = one(
            "SELECT conversation_id FROM spans WHERE is_llm AND service_name = %s "
            "ORDER BY start_time DESC OFFSET 500 LIMIT 1",
            service,
        )
        # An order number of one prompt: a word of one conversation only.
        prompt = one(
            "SELECT input_messages::text FROM spans WHERE is_llm AND service_name = %s "
            "AND input_messages::text LIKE '%%order #%%' ORDER BY start_time LIMIT 1",
            service,
        )
    order = prompt.split("order #", 1)[1][:5]
    return {
        "service": service,
        "provider": "anthropic",
        "model": models[0][0],
        "rare_model": next(m for m, _ in reversed(models) if "-" in m and m[-1].isdigit()),
        "user": "user-0150",
        "session": session,
        "rare_word": order,
        "common_word": "the order",
    }


def trace_list_cases(v: dict[str, str], now: datetime) -> dict[str, dict]:
    day = {"from": (now - timedelta(hours=24)).isoformat(), "to": now.isoformat()}
    filters = {
        "no filter": {},
        "service": {"service": v["service"]},
        "provider": {"provider": v["provider"]},
        "model": {"model": v["model"]},
        "rare model": {"model": v["rare_model"]},
        "status=error": {"status": "error"},
        "status=ok": {"status": "ok"},
        "model+error": {"model": v["model"], "status": "error"},
        "rare model+error": {"model": v["rare_model"], "status": "error"},
        "service+model": {"service": v["service"], "model": v["model"]},
        "user": {"user": v["user"]},
        "session": {"session": v["session"]},
        "last 24h": day,
        "last 24h+model+error": {**day, "model": v["model"], "status": "error"},
    }
    cases = {}
    for sort, order in (("time", "desc"), ("time", "asc"), ("duration", "desc"), ("cost", "desc")):
        for name, params in filters.items():
            cases[f"traces {sort} {order}, {name}"] = {**params, "sort": sort, "order": order}
    return cases


# --- measure ------------------------------------------------------------------------------


class Client:
    def __init__(self, api_url: str) -> None:
        self.settings = ApiSettings()
        self.http = httpx.Client(base_url=api_url, timeout=120)

    def get(self, path: str, params: dict | None = None) -> tuple[float, dict]:
        # A subject per request: the rate limit is counted (one Redis round trip, as
        # for every client) but never refuses the benchmark.
        token = mint_token(uuid.uuid4().hex, 300, self.settings)
        started = time.perf_counter()
        response = self.http.get(
            path, params=params or {}, headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(
                f"GET {path} {params} answered {response.status_code}: {response.text[:300]}"
            )
        return elapsed, response.json()


def measure(
    client: Client, database_url: str, tag: str, repeat: int
) -> dict[str, tuple[str, list[float]]]:
    values = sample_values(database_url, tag)
    print(f"  filter values: {values}", flush=True)
    results: dict[str, tuple[str, list[float]]] = {}
    now = datetime.now(UTC).replace(microsecond=0)

    def timed(name: str, kind: str, ask: Callable[[int], list[float]]) -> None:
        times: list[float] = []
        for i in range(repeat):
            times += ask(i)
        results[name] = (kind, times)

    def pages(path: str, params: dict) -> Callable[[int], list[float]]:
        def ask(_: int) -> list[float]:
            first, body = client.get(path, params)
            if not body.get("next_cursor"):
                return [first]
            second, _ = client.get(path, {**params, "cursor": body["next_cursor"]})
            return [first, second]

        return ask

    for _ in range(3):  # warm-up: connections, pools, caches of the database
        client.get("/api/v1/traces", {"limit": 50})
    for name, params in trace_list_cases(values, now).items():
        timed(name, "list", pages("/api/v1/traces", params))
    for word in ("rare_word", "common_word"):
        for extra in ({}, {"model": values["model"]}, {"sort": "cost"}):
            label = f"search {word.replace('_', ' ')}" + "".join(f", {k}" for k in extra)
            timed(label, "search", pages("/api/v1/traces", {"q": values[word], **extra}))
    for group_by in ("model", "provider", "service"):

        def usage(i: int, group_by: str = group_by) -> list[float]:
            to = now + timedelta(microseconds=i + 1 + 1000 * ord(group_by[0]))  # cold
            window = {"from": (to - timedelta(hours=24)).isoformat(), "to": to.isoformat()}
            return [client.get("/api/v1/usage", {"group_by": group_by, **window})[0]]

        timed(f"usage 24h by {group_by} (cold)", "usage", usage)
    with psycopg.connect(database_url) as conn:
        trace_ids = [
            r[0]
            for r in conn.execute(
                "SELECT trace_id FROM spans TABLESAMPLE SYSTEM (1) "
                "WHERE parent_span_id IS NULL LIMIT %s",
                (repeat * 5,),
            )
        ]
        sessions = [
            r[0]
            for r in conn.execute(
                "SELECT conversation_id FROM spans TABLESAMPLE SYSTEM (1) WHERE is_llm LIMIT %s",
                (repeat,),
            )
        ]
    random.shuffle(trace_ids)
    timed(
        "trace by id",
        "trace",
        lambda i: [client.get(f"/api/v1/traces/{t}")[0] for t in trace_ids[i * 5 : i * 5 + 5]],
    )
    timed("sessions", "list", pages("/api/v1/sessions", {}))
    timed("sessions, user", "list", pages("/api/v1/sessions", {"user": values["user"]}))
    timed("sessions, model", "list", pages("/api/v1/sessions", {"model": values["rare_model"]}))
    timed("session by id", "list", lambda i: [client.get(f"/api/v1/sessions/{sessions[i]}")[0]])
    timed("users", "list", pages("/api/v1/users", {}))
    timed("users, model", "list", pages("/api/v1/users", {"model": values["rare_model"]}))
    timed("user by id", "list", lambda i: [client.get(f"/api/v1/users/{values['user']}")[0]])
    for name, params in {
        "logs": {},
        "logs, service": {"service": values["service"]},
        "logs, min warn": {"min_severity": "warn"},
        "logs, min error + service": {"min_severity": "error", "service": values["service"]},
        "logs, min fatal (none)": {"min_severity": "fatal"},
        "logs, trace": {"trace_id": trace_ids[0]},
        "logs, search": {"q": "context_length_exceeded"},
    }.items():
        timed(name, "list", pages("/api/v1/logs", params))
    timed("models", "list", lambda i: [client.get("/api/v1/models")[0]])
    timed("services", "list", lambda i: [client.get("/api/v1/services")[0]])
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(results: dict[str, tuple[str, list[float]]]) -> bool:
    print(f"\n{'query':<46} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>7}  ok")
    failed = False
    for name, (kind, values) in results.items():
        p95, target = percentile(values, 0.95), TARGETS_MS[kind]
        ok = p95 < target
        failed |= not ok
        print(
            f"{name:<46} {len(values):>4} {statistics.median(values):>8.1f} {p95:>8.1f} "
            f"{max(values):>8.1f} {'< ' + format(target, 'g'):>7}  {'yes' if ok else 'NO'}"
        )
    return not failed


# --- ingest cost of the indexes -----------------------------------------------------------


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def ingest_cost(admin_url: str, count: int, rounds: int) -> None:
    spans, logs = [], []
    for batch_spans, batch_logs in DemoData(7, 1).batches(count, 1000):
        spans += batch_spans
        logs += batch_logs
    span_rows = [SPANS.row_encoder()(s).encode() for s in spans]
    log_rows = [LOG_RECORDS.row_encoder()(r).encode() for r in logs]
    name = f"llmo_index_cost_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = with_database(admin_url, name)
    try:
        for revision in ("0007", "head"):
            migrate.upgrade(url, revision)
            rates = asyncio.run(_copy_rates(url, span_rows, log_rows, rounds, revision == "head"))
            print(
                f"  schema {revision}: spans {statistics.median(rates['spans']):>8,.0f} rows/s, "
                f"log records {statistics.median(rates['logs']):>8,.0f} rows/s "
                f"(median of {rounds}; {len(span_rows):,} spans with messages, "
                f"{len(log_rows):,} log records)",
                flush=True,
            )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _copy_rates(
    url: str, span_rows: list, log_rows: list, rounds: int, with_writer: bool
) -> dict:
    rates: dict[str, list[float]] = {"spans": [], "logs": []}
    async with AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as pool:
        await pool.wait()
        for _ in range(rounds):
            for table, writer, rows in (
                ("spans", SpanWriter(pool), span_rows),
                ("logs", LogRecordWriter(pool), log_rows),
            ):
                async with pool.connection() as conn:
                    summaries = ", trace_summaries" if with_writer else ""
                    await conn.execute(f"TRUNCATE spans, log_records{summaries}")
                    await conn.execute("CHECKPOINT")
                started = time.perf_counter()
                for i in range(0, len(rows), 1000):
                    if with_writer:
                        await writer.write_rows(rows[i : i + 1000])
                    else:
                        await _plain_copy(pool, writer.signal.table, rows[i : i + 1000])
                rates[table].append(len(rows) / (time.perf_counter() - started))
    return rates


async def _plain_copy(pool: AsyncConnectionPool, table, rows: list) -> None:
    async with (
        pool.connection() as conn,
        conn.transaction(),
        conn.cursor() as cur,
        cur.copy(table.copy_sql(table.table)) as copy,
    ):
        await copy.write(b"\n".join(rows) + b"\n")


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default=os.environ.get("API_URL"))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="the owner's URL (seeding, sampling, the ingest scratch database)",
    )
    parser.add_argument("--mode", default="test", help="tasks.py mode whose stack to find")
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--repeat", type=int, default=10, help="requests per query")
    parser.add_argument("--no-seed", action="store_true", help="measure the data already there")
    parser.add_argument("--tag", default="", help="with --no-seed: the tag of an earlier seed")
    parser.add_argument("--ingest", action="store_true", help="also measure the write cost")
    parser.add_argument("--ingest-only", action="store_true")
    parser.add_argument("--ingest-spans", type=int, default=20_000)
    args = parser.parse_args()

    if not (args.api_url and args.database_url):
        from tests.support.compose_stack import Stack

        stack = Stack(args.mode)
        args.api_url = args.api_url or stack.url("api", 8080)
        args.database_url = args.database_url or stack.database_url()
    if args.ingest or args.ingest_only:
        print(f"ingest cost: {args.ingest_spans:,} demo spans, 0007 (plain COPY) and head (writer)")
        ingest_cost(args.database_url, args.ingest_spans, rounds=3)
        if args.ingest_only:
            return
    tag = args.tag
    if not args.no_seed:
        tag = uuid.uuid4().hex[:8]
        print(f"seeding {args.spans:,} spans over {args.days:g} days (tag {tag}) ...", flush=True)
        seed_data(args.database_url, args.spans, args.days, tag)
    with psycopg.connect(args.database_url) as conn:
        total = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    print(f"API {args.api_url}; spans in the table: {total:,}", flush=True)
    results = measure(Client(args.api_url), args.database_url, tag, args.repeat)
    sys.exit(0 if report(results) else 1)


if __name__ == "__main__":
    main()
