"""Write COPY text rows to a signal's table, refusing only the rows PostgreSQL refuses.

Rows arrive as the collector encoded them (core/rows.py): one COPY text line per
record, without the newline. A batch is one transaction: COPY straight into the table.
An OTLP exporter retries after a timeout even when we committed, so a batch may hold
spans already stored: their unique index refuses the COPY, and the batch is written
again through a per-session TEMP staging table (``LIKE <table> INCLUDING DEFAULTS ON
COMMIT DELETE ROWS``) and ``INSERT INTO <table> SELECT ... FROM staging ON CONFLICT DO
NOTHING``, which skips them: written twice, a batch neither fails nor duplicates spans.
(Metric points and log records have no unique key: a retried batch of them is stored
twice.) The staged path costs the database about twice the CPU of the direct COPY,
so it is taken only when needed.

When the database refuses a batch for a reason in the data (SQLSTATE classes 22 data
exception, 23 integrity, 54 program limit such as "index row size exceeds maximum"),
the batch is written again without the row COPY named in its error, or split in halves
when the error names no row (the merge's), until every row that fails has failed alone.
Those rows are kept in `rejected_records` with the database's reason; the rest commit.
A deadlock with another writer is tried again, TRANSIENT_RETRIES times. Any other
error (connection lost, timeout, permissions) fails the whole batch for a retry: it is
not the data's fault.

A batch of spans also merges the summaries of their traces (storage/trace_summaries.py)
and the hourly rollups of their LLM calls (storage/call_rollups.py) in its transaction:
a span is counted exactly when it is stored.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.batching import Refusal
from llm_observatory.core.signals import LOGS, SIGNALS, TRACES, Signal
from llm_observatory.storage import call_rollups, span_parts, trace_summaries

_DATA_ERROR_CLASSES = ("22", "23", "54")
_COPY_LINE = re.compile(r"\bCOPY \S+, line (\d+)")
_REASON_MAX = 500
TRANSIENT_RETRIES = 3  # a deadlocked batch is tried this many times more, then fails

# What a batch of spans keeps up to date from their parts (storage/span_parts.py).
SUMMARIES = (
    trace_summaries.MERGE_PARTS_SQL,
    *(rollup.merge_parts_sql for rollup in call_rollups.ROLLUPS),
)

REJECTED_INSERT = (
    "INSERT INTO rejected_records (signal, reason, record, record_size, ingest_key) "
    "VALUES (%s, %s, %s, %s, %s)"
)


def is_data_error(exc: BaseException) -> bool:
    """A refusal caused by the rows themselves, which writing them again cannot fix."""
    code = getattr(exc, "sqlstate", None) or ""
    return code[:2] in _DATA_ERROR_CLASSES


def copy_error_line(exc: BaseException) -> int | None:
    """The 1-based line of the COPY data an error names, if it names one."""
    diag = getattr(exc, "diag", None)
    context = getattr(diag, "context", None) or ""
    match = _COPY_LINE.search(context)
    return int(match.group(1)) if match else None


def reason_of(exc: BaseException) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc).splitlines()[0]
    code = getattr(exc, "sqlstate", None)
    return (f"{primary} (SQLSTATE {code})" if code else primary)[:_REASON_MAX]


@dataclass
class WriteResult:
    inserted: int = 0
    refused: list[Refusal] = field(default_factory=list)


class TableWriter:
    """Writes batches of COPY rows to one signal's table; see the module docstring."""

    def __init__(self, pool: AsyncConnectionPool, signal: Signal, max_record_bytes: int = 65536):
        self.pool = pool
        self.signal = signal
        self.max_record_bytes = max_record_bytes
        self._encode = signal.table.row_encoder()
        self._create_staging = signal.table.create_staging_sql()
        self._copy = signal.table.copy_sql()
        self._copy_direct = signal.table.copy_sql(signal.table.table)
        self._merge = signal.table.merge_sql()
        self._ingest_key_field = signal.table.column_names.index("ingest_key")
        # Every writer of spans keeps their summaries: none can bypass them.
        self._summarise = signal is TRACES
        self._merge_keeping_parts = span_parts.staged_sql(self._merge)

    async def write(self, records: Iterable[Any]) -> int:
        """Encode and write records (the CLI's seed, tests); return the rows inserted."""
        rows = [self._encode(record).encode() for record in records]
        result = await self.write_rows(rows)
        return result.inserted

    async def write_rows(self, rows: Sequence[bytes]) -> WriteResult:
        """Write COPY rows; the refused ones go to rejected_records and are returned."""
        result = WriteResult()
        pending = [list(range(len(rows)))] if rows else []
        while pending:
            positions = pending.pop()
            if not positions:
                continue
            try:
                result.inserted += await self._transaction([rows[i] for i in positions])
            except psycopg.Error as exc:
                if not is_data_error(exc):
                    raise
                if len(positions) == 1:
                    result.refused.append((positions[0], reason_of(exc)))
                    continue
                line = copy_error_line(exc)
                if line is not None and 1 <= line <= len(positions):
                    result.refused.append((positions[line - 1], reason_of(exc)))
                    pending.append(positions[: line - 1] + positions[line:])
                else:
                    middle = len(positions) // 2
                    pending += [positions[middle:], positions[:middle]]
        if result.refused:
            result.refused.sort()
            await self._keep_rejected(rows, result.refused)
        return result

    async def _transaction(self, rows: list[bytes]) -> int:
        """Commit rows; the number inserted. Duplicates (a retried export) are skipped.

        A retried export can overlap the same batch still being written by another
        writer, and the two can wait on each other's spans (COPY into a hypertable is
        buffered chunk by chunk, so their order of insertion differs): PostgreSQL aborts
        one, which is tried again, a few times, once the other has committed (seen
        about once in 25 runs of three concurrent writers in the rollups' tests)."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return await self._attempt(rows)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                await asyncio.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter)
        return await self._attempt(rows)

    async def _attempt(self, rows: list[bytes]) -> int:
        payload = b"\n".join(rows) + b"\n"
        try:
            # Nearly every batch is new: COPY straight into the table costs the database
            # half of what staging and INSERT ... ON CONFLICT cost.
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                async with cur.copy(self._copy_direct) as copy:
                    await copy.write(payload)
                await self._copied(cur, rows)
                return len(rows)
        except psycopg.errors.UniqueViolation:
            pass  # a retried export: the staged path skips what is already there
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(self._create_staging)
            async with cur.copy(self._copy) as copy:
                await copy.write(payload)
            return await self._merged(cur)

    async def _copied(self, cur: psycopg.AsyncCursor, rows: list[bytes]) -> None:
        """After `rows` were copied into the table, in the same transaction: spans'
        SUMMARIES."""
        if self._summarise:
            await cur.execute(span_parts.CREATE_SQL)
            async with cur.copy(span_parts.COPY_SQL) as copy:
                await copy.write(span_parts.parts(rows))
            await self._summaries(cur)

    async def _merged(self, cur: psycopg.AsyncCursor) -> int:
        """Merge the staging table into the table; the rows inserted (and, for spans,
        summarised)."""
        if not self._summarise:
            await cur.execute(self._merge)
            return max(cur.rowcount, 0)
        await cur.execute(span_parts.CREATE_SQL)
        await cur.execute(self._merge_keeping_parts)
        inserted = max(cur.rowcount, 0)
        await self._summaries(cur)
        return inserted

    @staticmethod
    async def _summaries(cur: psycopg.AsyncCursor) -> None:
        for merge in SUMMARIES:
            await cur.execute(merge)

    async def _keep_rejected(self, rows: Sequence[bytes], refused: list[Refusal]) -> None:
        limit = self.max_record_bytes
        values = []
        for position, reason in refused:
            row = rows[position]
            record = row[:limit].decode("utf-8", "replace").replace("\x00", "")
            fields = row.split(b"\t")
            key = fields[self._ingest_key_field] if len(fields) > self._ingest_key_field else b""
            ingest_key = None if key in (b"", b"\\N") else key[:200].decode("utf-8", "replace")
            values.append((self.signal.name, reason, record, len(row), ingest_key))
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(REJECTED_INSERT, values)


class SpanWriter(TableWriter):
    def __init__(self, pool: AsyncConnectionPool, max_record_bytes: int = 65536) -> None:
        super().__init__(pool, TRACES, max_record_bytes)


class LogRecordWriter(TableWriter):
    def __init__(self, pool: AsyncConnectionPool, max_record_bytes: int = 65536) -> None:
        super().__init__(pool, LOGS, max_record_bytes)


def writers(pool: AsyncConnectionPool, max_record_bytes: int) -> dict[str, TableWriter]:
    """One writer per signal of core.signals."""
    return {name: TableWriter(pool, signal, max_record_bytes) for name, signal in SIGNALS.items()}
