"""API benchmark: seed spans over days, then time usage (cold cache) and trace lookups.

    uv run python tests/performance/api_benchmark.py --mode test          # the test stack
    uv run python tests/performance/api_benchmark.py --spans 1000000 --days 7

The seed goes in as the owner with one INSERT ... SELECT generate_series per chunk
(4-span traces: an agent root, two LLM calls over six models, a tool call; ~2% of
LLM calls fail), timed and printed as rows/s, then VACUUM ANALYZE (what autovacuum
does to a freshly loaded table). The spans fill the last `--days` days up to now.

Then, through the API over HTTP (rate limit and auth included, as a client sees it):

* GET /api/v1/usage?group_by=model&interval=1h for the last 24 h, each request with a
  `to` of its own (microseconds apart), so every one misses the cache: cold.
* GET /api/v1/traces/{id} for random seeded traces.

Prints a table of p50/p95/max per query against the targets (usage p95 < 100 ms,
trace p95 < 20 ms). Each request has a token of its own subject, so the rate limit
counts but never refuses. The 1 GiB tmpfs of the test stack holds roughly half a
million spans: for a million, run against a stack whose database is on a volume.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from llm_observatory.api.auth import mint_token  # noqa: E402
from llm_observatory.core.settings import ApiSettings  # noqa: E402

SPANS_PER_TRACE = 4
TARGETS_MS = {"usage 24h by model (cold)": 100.0, "trace by id": 20.0}

# One statement per chunk: traces $first..$first+$count-1, 4 spans each, spread evenly
# over [now - days, now). Everything is computed in the database: no rows cross the
# wire, so the figure is the database's insert rate (indexes included).
SEED_SQL = """
INSERT INTO spans (
    start_time, end_time, duration_ms, trace_id, span_id, parent_span_id, service_name,
    name, kind, status_code, is_llm, provider, operation, request_model, model,
    input_tokens, output_tokens, total_tokens, cost_usd, attributes
)
SELECT
    t.start + s.offset_ms * interval '1 millisecond',
    t.start + (s.offset_ms + d.ms) * interval '1 millisecond',
    d.ms,
    t.trace_id,
    substr(md5(t.trace_id || s.k), 1, 16),
    CASE WHEN s.k = 0 THEN NULL ELSE substr(md5(t.trace_id || 0), 1, 16) END,
    %(service)s,
    CASE s.k WHEN 0 THEN 'agent run' WHEN 3 THEN 'tool search' ELSE 'chat ' || m.model END,
    CASE s.k WHEN 0 THEN 'server' WHEN 3 THEN 'internal' ELSE 'client' END,
    CASE WHEN s.k IN (1, 2) AND random() < 0.02 THEN 'error' ELSE 'ok' END,
    s.k IN (1, 2),
    CASE WHEN s.k IN (1, 2) THEN m.provider END,
    CASE WHEN s.k IN (1, 2) THEN 'chat' END,
    CASE WHEN s.k IN (1, 2) THEN m.model END,
    CASE WHEN s.k IN (1, 2) THEN m.model END,
    CASE WHEN s.k IN (1, 2) THEN tok.input END,
    CASE WHEN s.k IN (1, 2) THEN tok.output END,
    CASE WHEN s.k IN (1, 2) THEN tok.input + tok.output END,
    CASE WHEN s.k IN (1, 2)
         THEN round((tok.input * m.in_price + tok.output * m.out_price) / 1e6, 9) END,
    jsonb_build_object('bench', true, 'step', s.k)
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g(i)
CROSS JOIN LATERAL (
    SELECT %(end)s::timestamptz - %(range)s::interval * ((g.i + 0.5) / %(total)s) AS start,
           md5(%(tag)s || g.i) AS trace_id
) t
CROSS JOIN LATERAL (VALUES (0, 0), (1, 20), (2, 900), (3, 1600)) AS s(k, offset_ms)
CROSS JOIN LATERAL (
    SELECT (ARRAY['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'claude-3-5-haiku',
                  'gemini-1.5-pro', 'llama-3.1-70b'])[1 + (g.i + s.k) %% 6] AS model,
           (ARRAY['openai', 'openai', 'anthropic', 'anthropic', 'google', 'meta'])
               [1 + (g.i + s.k) %% 6] AS provider,
           (ARRAY[2.5, 0.15, 3.0, 0.8, 1.25, 0.6])[1 + (g.i + s.k) %% 6] AS in_price,
           (ARRAY[10.0, 0.6, 15.0, 4.0, 5.0, 0.8])[1 + (g.i + s.k) %% 6] AS out_price
) m
CROSS JOIN LATERAL (
    SELECT (50 + random() * 4000)::bigint AS input, (10 + random() * 800)::bigint AS output
) tok
CROSS JOIN LATERAL (
    SELECT CASE s.k WHEN 0 THEN 2500 + random() * 3000
                    WHEN 3 THEN 5 + random() * 100
                    ELSE 150 + random() * random() * 6000 END AS ms
) d
"""


def seed(database_url: str, spans: int, days: float, chunk_traces: int) -> tuple[str, float]:
    traces = spans // SPANS_PER_TRACE
    tag = uuid.uuid4().hex[:8]
    service = f"bench-{tag}"
    end = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        for first in range(0, traces, chunk_traces):
            last = min(first + chunk_traces, traces) - 1
            conn.execute(
                SEED_SQL,
                {
                    "service": service,
                    "tag": tag,
                    "first": first,
                    "last": last,
                    "total": traces,
                    "end": end,
                    "range": timedelta(days=days),
                },
            )
            done = (last + 1) * SPANS_PER_TRACE
            rate = done / (time.perf_counter() - started)
            print(f"  seeded {done:>10,} spans  {rate:>10,.0f} rows/s", flush=True)
        seeded = time.perf_counter() - started
        vacuum_started = time.perf_counter()
        conn.execute("VACUUM ANALYZE spans")
        print(f"  VACUUM ANALYZE spans: {time.perf_counter() - vacuum_started:.1f}s", flush=True)
    return service, traces * SPANS_PER_TRACE / seeded


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_get(client: httpx.Client, path: str, params: dict, settings: ApiSettings) -> float:
    # A subject per request: the rate limit is counted (one Redis round trip, as for
    # every client) but never refuses the benchmark.
    headers = {"Authorization": f"Bearer {mint_token(uuid.uuid4().hex, 300, settings)}"}
    started = time.perf_counter()
    response = client.get(path, params=params, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}: {response.text[:300]}")
    return elapsed


def measure(api_url: str, database_url: str, service: str, args: argparse.Namespace) -> dict:
    settings = ApiSettings()
    results: dict[str, list[float]] = {}
    with psycopg.connect(database_url) as conn:
        trace_ids = [
            row[0]
            for row in conn.execute(
                "SELECT trace_id FROM spans WHERE parent_span_id IS NULL AND service_name = %s "
                "ORDER BY random() LIMIT %s",
                (service, args.trace_requests),
            )
        ]
    with httpx.Client(base_url=api_url, timeout=60) as client:
        now = datetime.now(UTC).replace(microsecond=0)
        # Warm-up: connections, the pool, prepared plans (not counted).
        for i in range(3):
            timed_get(client, f"/api/v1/traces/{trace_ids[i]}", {}, settings)
        usage = []
        for i in range(args.usage_requests):
            to = now + timedelta(microseconds=i + 1)  # a new cache key each time: cold
            params = {
                "group_by": "model",
                "interval": "1h",
                "from": (to - timedelta(hours=24)).isoformat(),
                "to": to.isoformat(),
            }
            usage.append(timed_get(client, "/api/v1/usage", params, settings))
        results["usage 24h by model (cold)"] = usage
        results["trace by id"] = [
            timed_get(client, f"/api/v1/traces/{trace_id}", {}, settings) for trace_id in trace_ids
        ]
        results["traces list, first page"] = [
            timed_get(client, "/api/v1/traces", {"limit": 50}, settings) for _ in range(20)
        ]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default=os.environ.get("API_URL"))
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help="owner URL"
    )
    parser.add_argument(
        "--mode", default="test", help="tasks.py mode whose stack to find (default: test)"
    )
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--chunk-traces", type=int, default=25_000)
    parser.add_argument("--usage-requests", type=int, default=60)
    parser.add_argument("--trace-requests", type=int, default=300)
    parser.add_argument("--no-seed", action="store_true", help="measure the data already there")
    parser.add_argument("--service", help="with --no-seed: the bench-* service to sample")
    args = parser.parse_args()

    if not (args.api_url and args.database_url):
        from stack_support import Stack

        stack = Stack(args.mode)
        args.api_url = args.api_url or stack.url("api", 8080)
        args.database_url = args.database_url or stack.database_url()

    print(f"API {args.api_url}")
    if args.no_seed:
        if not args.service:
            raise SystemExit("--no-seed needs --service bench-XXXXXXXX (from an earlier seed)")
        service, rate = args.service, None
    else:
        print(f"seeding {args.spans:,} spans over {args.days:g} days ...")
        service, rate = seed(args.database_url, args.spans, args.days, args.chunk_traces)
    with psycopg.connect(args.database_url) as conn:
        total = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        last_day = conn.execute(
            "SELECT count(*) FROM spans WHERE is_llm AND start_time >= now() - interval '24 hours'"
        ).fetchone()[0]
    results = measure(args.api_url, args.database_url, service, args)

    print()
    if rate is not None:
        print(f"seed: {args.spans:,} spans at {rate:,.0f} rows/s (INSERT ... SELECT, owner)")
    print(f"spans in the table: {total:,}; LLM spans in the last 24 h: {last_day:,}")
    print()
    print(f"{'query':<28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>8}  ok")
    failed = False
    for name, values in results.items():
        p95 = percentile(values, 0.95)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else ("yes" if p95 < target else "NO")
        failed |= verdict == "NO"
        limit = f"< {target:g}" if target else ""
        print(
            f"{name:<28} {len(values):>5} {statistics.median(values):>8.1f} {p95:>8.1f} "
            f"{max(values):>8.1f} {limit:>8}  {verdict}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
