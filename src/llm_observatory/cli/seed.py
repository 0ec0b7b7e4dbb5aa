"""`seed`: demo traces with messages, sessions, users, errors and logs, into the database.

The records come from the shared demo-data builder (cli/demo_data.py) and go in
through storage's own writers (SpanWriter, LogRecordWriter), several batches in
flight: a seeded row is stored exactly as an ingested one would be.

`--seed` makes the data (ids, texts, shapes, offsets in the window) deterministic;
the window itself ends now.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from llm_observatory.cli.demo_data import DemoData
from llm_observatory.core.records import LogRecordRow, SpanRecord
from llm_observatory.storage.writer import LogRecordWriter, SpanWriter


@dataclass
class SeedResult:
    rows: int  # spans
    seconds: float
    log_records: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


async def seed(
    database_url: str,
    count: int,
    days: float = 7,
    seed_value: int = 42,
    batch_size: int = 5000,
    concurrency: int = 3,
    data: DemoData | None = None,
) -> SeedResult:
    """Write `count` spans (whole traces) and their traces' log records."""
    data = data or DemoData(seed_value, days)
    spans_written = logs_written = 0
    started = time.perf_counter()
    async with AsyncConnectionPool(
        database_url, min_size=1, max_size=concurrency, open=False, timeout=30
    ) as pool:
        await pool.wait(timeout=10)
        span_writer, log_writer = SpanWriter(pool), LogRecordWriter(pool)

        async def write(spans: list[SpanRecord], logs: list[LogRecordRow]) -> tuple[int, int]:
            return await span_writer.write(spans), await log_writer.write(logs)

        in_flight: set[asyncio.Task[tuple[int, int]]] = set()
        for spans, logs in data.batches(count, batch_size):
            in_flight.add(asyncio.create_task(write(spans, logs)))
            if len(in_flight) >= concurrency:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            else:
                done = set()
                await asyncio.sleep(0)  # let the writes make progress
            for task in done:
                s, lg = task.result()
                spans_written, logs_written = spans_written + s, logs_written + lg
        for s, lg in await asyncio.gather(*in_flight):
            spans_written, logs_written = spans_written + s, logs_written + lg
    return SeedResult(spans_written, time.perf_counter() - started, logs_written)
