"""Table writer throughput: rows/s for 10,000 realistic spans.

    uv run python -m tests.performance.writer_benchmark --database-url postgresql://...

The URL is a superuser's on a TimescaleDB server (e.g. the dev stack's, published on
localhost:5432). A fresh database is created, migrated and dropped afterwards; writes go
through the app role (DB_APP_USER), as the storage service's do. Prints median and best
rows/s of 5 rounds for: write_rows of COPY rows as the collector sends them (staging
+ ON CONFLICT, what storage does), plain COPY into the table (no dedupe), write_rows
of a batch that is all duplicates, and the record-to-row encoding alone (collector).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.rows import SPANS
from llm_observatory.core.signals import TRACES
from llm_observatory.storage import migrate, roles
from llm_observatory.storage.writer import TableWriter
from tests.support.span_records import realistic_spans


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def with_role(url: str, role: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(parts._replace(query=f"{query}options=-c%20role%3D{role}"))


def measure(url: str, app_role: str) -> None:
    n, rounds = 10_000, 5
    spans = realistic_spans(n)
    encode = SPANS.row_encoder()
    rows = [encode(span).encode() for span in spans]

    async def plain_copy(pool: AsyncConnectionPool) -> None:
        async with (
            pool.connection() as conn,
            conn.cursor() as cur,
            cur.copy(SPANS.copy_sql(target="spans")) as copy,
        ):
            await copy.write(b"\n".join(rows) + b"\n")

    async def main() -> dict[str, list[float]]:
        results: dict[str, list[float]] = {}
        async with AsyncConnectionPool(with_role(url, app_role), min_size=1, open=False) as pool:
            writer = TableWriter(pool, TRACES)
            for _ in range(rounds):
                for label in ("write_rows", "plain COPY (no dedupe)", "write_rows, all duplicates"):
                    if label != "write_rows, all duplicates":
                        # as the owner: the app role may only insert and read
                        with psycopg.connect(url, autocommit=True) as owner:
                            owner.execute("TRUNCATE spans")
                    started = time.perf_counter()
                    if label.startswith("plain"):
                        await plain_copy(pool)
                    else:
                        result = await writer.write_rows(rows)
                        assert result.inserted == (0 if "duplicates" in label else n)
                        assert not result.refused
                    results.setdefault(label, []).append(n / (time.perf_counter() - started))
            started = time.perf_counter()
            for span in spans:
                encode(span)
            results["row encoding only"] = [n / (time.perf_counter() - started)]
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
    app_role = roles.app_role()
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
