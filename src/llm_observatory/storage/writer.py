"""Batch writers for the three signal hypertables (psycopg 3 async, caller-owned pool).

One generic implementation, ``BatchWriter``, driven by a ``TableSpec`` (table name,
columns, how each column is taken from a record and converted).
``SpanWriter``, ``MetricPointWriter`` and ``LogRecordWriter`` only bind a spec.

Ingest is idempotent: an OTLP exporter retries after a timeout even when we committed,
so a batch written twice must not fail and must not duplicate rows.

- ``method="copy"`` (default, WRITE_METHOD=copy): text COPY into a per-session TEMP
  staging table (``LIKE <table> INCLUDING DEFAULTS ON COMMIT DELETE ROWS``), then
  ``INSERT INTO <table> SELECT ... FROM staging ON CONFLICT DO NOTHING``, in one
  transaction. Plain COPY into the hypertable cannot skip duplicates: one retried span
  would fail the whole batch.
- ``method="insert"`` (WRITE_METHOD=insert): ``executemany`` of
  ``INSERT ... ON CONFLICT DO NOTHING`` (pipelined by psycopg). The fallback.

``write`` returns the rows actually inserted (duplicates not counted).

``write_rows`` takes rows already converted by the table's spec (core.rows): the
storage service receives them that way from the collector.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Generic, Literal, TypeVar

from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.rows import (  # noqa: F401 - re-exported for callers and tests
    LOG_RECORDS,
    METRIC_POINTS,
    SPANS,
    Column,
    TableSpec,
    clean_text,
    dump_json,
    ns_to_datetime,
)

WriteMethod = Literal["copy", "insert"]
WRITE_METHODS: tuple[str, ...] = ("copy", "insert")

R = TypeVar("R")


# --- writers ----------------------------------------------------------------------------


class BatchWriter(Generic[R]):
    """Writes batches of records to one hypertable; see the module docstring."""

    spec: ClassVar[TableSpec]

    def __init__(self, pool: AsyncConnectionPool, method: str = "copy") -> None:
        if method not in WRITE_METHODS:
            raise ValueError(f"WRITE_METHOD must be one of {WRITE_METHODS}, got {method!r}")
        self.pool = pool
        self.method = method
        self._build_row = self.spec.row_builder()
        self._create_staging = self.spec.create_staging_sql()
        self._copy = self.spec.copy_sql()
        self._merge = self.spec.merge_sql()
        self._insert = self.spec.insert_sql()

    def rows(self, records: Iterable[R]) -> list[list[Any]]:
        """Records -> rows of column values, in spec column order."""
        return [self._build_row(r) for r in records]

    async def write(self, records: Sequence[R] | Iterable[R]) -> int:
        """Write a batch in one transaction; return the rows inserted (after dedupe)."""
        return await self.write_rows(self.rows(records))

    async def write_rows(self, rows: Sequence[Sequence[Any]]) -> int:
        """Write rows built by this table's spec; return the rows inserted."""
        if not rows:
            return 0
        async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if self.method == "copy":
                await cur.execute(self._create_staging)
                async with cur.copy(self._copy) as copy:
                    for row in rows:
                        await copy.write_row(row)
                await cur.execute(self._merge)
            else:
                await cur.executemany(self._insert, rows)
            return max(cur.rowcount, 0)


class SpanWriter(BatchWriter[SpanRecord]):
    spec = SPANS


class MetricPointWriter(BatchWriter[MetricPointRecord]):
    spec = METRIC_POINTS


class LogRecordWriter(BatchWriter[LogRecordRow]):
    spec = LOG_RECORDS
