"""Ingest benchmark: concurrent OTLP/HTTP protobuf senders against the running stack.

    uv run python tests/performance/ingest_benchmark.py            # the dev stack
    uv run invoke bench-ingest --mode test                         # the test stack

Every request carries `--batch` LLM spans with fresh ids, built before the clock
starts, so the senders cost little CPU and no span is a duplicate (storage skips
duplicates cheaply, which would flatter the figure). The collector answers only after
storage has committed, so an acknowledged span is a committed row: spans/s is
end-to-end, request sent to row committed. The row count is checked at the end.

Prints spans/s, requests/s, export latency p50/p95/p99, and failures.
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
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from otlp_builders import make_llm_span_request


def build_payloads(requests: int, batch: int, service: str) -> list[bytes]:
    rng = random.Random(7)
    now = time.time_ns()
    payloads = []
    for i in range(requests):
        request = make_llm_span_request(
            batch,
            spans_per_trace=4,
            service_name=service,
            seed=rng.getrandbits(32),
            start_ns=now - (requests - i) * 1_000_000,
        )
        payloads.append(request.SerializeToString())
    return payloads


async def sender(
    client: httpx.AsyncClient,
    url: str,
    queue: asyncio.Queue[bytes],
    latencies: list[float],
    failures: dict[int, int],
    acked: list[int],
    batch: int,
) -> None:
    while True:
        try:
            body = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.perf_counter()
        try:
            response = await client.post(
                url, content=body, headers={"content-type": "application/x-protobuf"}
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        latencies.append(time.perf_counter() - started)
        if status == 200:
            acked.append(batch)
        else:
            failures[status] = failures.get(status, 0) + 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    service = f"bench-{uuid.uuid4().hex[:8]}"
    print(f"building {args.requests} requests of {args.batch} spans ...", flush=True)
    payloads = build_payloads(args.requests, args.batch, service)
    size = statistics.mean(len(p) for p in payloads)
    print(f"payload {size / 1024:.0f} KiB per request; {args.senders} concurrent senders")

    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    latencies: list[float] = []
    failures: dict[int, int] = {}
    acked: list[int] = []
    url = args.otlp_url.rstrip("/") + "/v1/traces"
    limits = httpx.Limits(max_connections=args.senders, max_keepalive_connections=args.senders)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                sender(client, url, queue, latencies, failures, acked, args.batch)
                for _ in range(args.senders)
            )
        )
        elapsed = time.perf_counter() - started

    spans = sum(acked)
    stored = None
    if args.database_url:
        with psycopg.connect(args.database_url) as conn:
            stored = conn.execute(
                "SELECT count(*) FROM spans WHERE service_name = %s", (service,)
            ).fetchone()[0]

    print()
    print("| figure | value |")
    print("| --- | --- |")
    print(f"| spans acknowledged (= committed) | {spans:,} in {elapsed:.1f} s |")
    print(f"| end-to-end throughput | **{spans / elapsed:,.0f} spans/s** |")
    print(f"| requests/s | {len(acked) / elapsed:,.1f} ({args.batch} spans each) |")
    print(
        f"| export latency p50 / p95 / p99 | {percentile(latencies, 0.5) * 1000:.0f} / "
        f"{percentile(latencies, 0.95) * 1000:.0f} / {percentile(latencies, 0.99) * 1000:.0f} ms |"
    )
    print(f"| failures | {failures or 'none'} |")
    if stored is not None:
        print(f"| rows in spans for this run | {stored:,} |")
    print(f"| machine | {os.cpu_count()} CPUs, whole stack on the same machine |")
    if stored is not None and stored < spans:
        print(f"ERROR: {spans - stored} acknowledged spans are missing from the database")
        return 1
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--otlp-url", default=os.environ.get("OTLP_URL", "http://127.0.0.1:4318"))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="superuser URL to verify the row count (optional)",
    )
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders")
    parser.add_argument("--batch", type=int, default=500, help="spans per request")
    parser.add_argument("--requests", type=int, default=300, help="requests in total")
    args = parser.parse_args()
    if min(args.senders, args.batch, args.requests) < 1:
        parser.error("--senders, --batch and --requests must be at least 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
