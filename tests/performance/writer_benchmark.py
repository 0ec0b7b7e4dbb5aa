"""Batch writer throughput: rows/s for 10,000 realistic spans, by write method.

    uv run python tests/performance/writer_benchmark.py --database-url postgresql://...

The URL is a superuser's on a TimescaleDB server (e.g. the dev stack's, published on
localhost:5432). A fresh database is created, migrated and dropped afterwards; writes go
through the app role (DB_APP_USER), as the storage service's do. Prints median and best
rows/s of 5 rounds for: copy (staging + ON CONFLICT), insert, plain COPY (no dedupe),
copy of a batch that is all duplicates, and the record-to-row conversion alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from llm_observatory.storage import migrate
from llm_observatory.storage.writer import SPANS, SpanWriter
from span_records import realistic_spans


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def with_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}options=-c%20role%3D{role}"))


def measure(url: str, app_role: str) -> None:
    n, rounds = 10_000, 5
    spans = realistic_spans(n)

    async def plain_copy(pool: AsyncConnectionPool, writer: SpanWriter) -> None:
        rows = writer.rows(spans)
        async with (
            pool.connection() as conn,
            conn.cursor() as cur,
            cur.copy(SPANS.copy_sql(target="spans")) as copy,
        ):
            for row in rows:
                await copy.write_row(row)

    async def main() -> dict[str, list[float]]:
        results: dict[str, list[float]] = {}
        async with AsyncConnectionPool(with_role(url, app_role), min_size=1, open=False) as pool:
            for _ in range(rounds):
                for label in ("copy", "insert", "plain COPY (no dedupe)", "copy, all duplicates"):
                    if label != "copy, all duplicates":
                        async with pool.connection() as conn:
                            await conn.execute("DELETE FROM spans")
                    writer = SpanWriter(pool, method="insert" if label == "insert" else "copy")
                    started = time.perf_counter()
                    if label.startswith("plain"):
                        await plain_copy(pool, writer)
                    else:
                        inserted = await writer.write(spans)
                        assert inserted == (0 if "duplicates" in label else n)
                    results.setdefault(label, []).append(n / (time.perf_counter() - started))
            writer = SpanWriter(pool)
            started = time.perf_counter()
            writer.rows(spans)
            results["row conversion only"] = [n / (time.perf_counter() - started)]
        return results

    results = asyncio.run(main())
    print()
    for label, rates in results.items():
        print(
            f"{label:>28}: median {statistics.median(rates):>8,.0f} rows/s, best "
            f"{max(rates):>8,.0f}  (runs: " + ", ".join(f"{r:,.0f}" for r in rates) + ")"
        )
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    if stored != n:
        raise SystemExit(f"ERROR: {stored} rows in spans, expected {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a superuser URL")
    args = parser.parse_args()
    app_role = os.environ.get("DB_APP_USER", "llm_observatory_app")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = with_database(args.database_url, name)
        migrate.upgrade(url)
        measure(url, app_role)
    finally:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
