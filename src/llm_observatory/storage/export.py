"""Exporting spans: a time range and filters, as JSON lines, CSV or Parquet, in bounded memory.

The rows come through a server-side cursor, PAGE_ROWS at a time, and leave as soon as
they are encoded: memory is a page of rows (and for Parquet one row group), whatever
the range holds. The columns are the ones storage writes (core/rows.py SPANS), in
that order. JSON columns (messages, attributes, events) are read as the text
PostgreSQL stores and written as JSON values in JSON lines (never parsed here),
as JSON text in CSV and Parquet; costs are read as text, so they stay exact.

`llm-observatory export` writes a file; GET /api/v1/export streams JSON lines with
the same filters (`stream_jsonl`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, Literal

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from llm_observatory.core.rows import SPANS

Format = Literal["jsonl", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet")
PAGE_ROWS = 1000
ROW_GROUP_ROWS = 10_000
MAX_FILTER_LENGTH = 1024
COLUMNS = tuple(column.name for column in SPANS.columns)
TYPES_SQL = """
    SELECT column_name, udt_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'spans'
"""


@dataclass(frozen=True)
class Layout:
    """The exported columns and their PostgreSQL types, read from the schema itself."""

    types: dict[str, str]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(name for name in COLUMNS if name in self.types)

    def is_json(self, name: str) -> bool:
        return self.types[name] in {"json", "jsonb"}

    def is_exact(self, name: str) -> bool:
        return self.types[name] == "numeric"

    def as_text(self, name: str) -> bool:
        """Read as PostgreSQL's text: JSON is written as stored, numerics stay exact."""
        return self.is_json(name) or self.is_exact(name)


def layout(conn: psycopg.Connection) -> Layout:
    with conn.cursor(row_factory=tuple_row) as cursor:
        return Layout(dict(cursor.execute(TYPES_SQL).fetchall()))  # type: ignore[arg-type]


async def layout_async(conn: psycopg.AsyncConnection) -> Layout:
    async with conn.cursor(row_factory=tuple_row) as cursor:
        await cursor.execute(TYPES_SQL)
        return Layout(dict(await cursor.fetchall()))  # type: ignore[arg-type]


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExportFilter:
    start: datetime
    end: datetime
    service: str | None = None
    model: str | None = None
    user: str | None = None
    conversation: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ExportError("from and to must carry a time zone (e.g. 2026-01-31T00:00:00Z)")
        if self.end <= self.start:
            raise ExportError("to must be after from")
        for name in ("service", "model", "user", "conversation"):
            value = getattr(self, name)
            if value is not None and (
                not value or len(value) > MAX_FILTER_LENGTH or "\x00" in value
            ):
                raise ExportError(f"{name} must be 1 to {MAX_FILTER_LENGTH} characters")


_FILTER_COLUMNS = {
    "service": "service_name",
    "model": "model",
    "user": "user_id",
    "conversation": "conversation_id",
}


def export_query(where: ExportFilter, shape: Layout) -> tuple[sql.Composed, list[Any]]:
    clauses = [sql.SQL("start_time >= %s"), sql.SQL("start_time < %s")]
    params: list[Any] = [where.start, where.end]
    for field, column in _FILTER_COLUMNS.items():
        value = getattr(where, field)
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    columns = [
        sql.SQL("{}::text").format(sql.Identifier(name))
        if shape.as_text(name)
        else sql.Identifier(name)
        for name in shape.columns
    ]
    query = sql.SQL("SELECT {} FROM spans WHERE {} ORDER BY start_time, trace_id, span_id").format(
        sql.SQL(", ").join(columns), sql.SQL(" AND ").join(clauses)
    )
    return query, params


# --- encoding ---------------------------------------------------------------------------


class Writer:
    """One output format; `write(rows)` per page, `close()` at the end."""

    def __init__(self, out: IO[bytes], shape: Layout) -> None:
        self.out = out
        self.shape = shape
        self.columns = shape.columns

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.out.flush()


class JsonlWriter(Writer):
    def __init__(self, out: IO[bytes], shape: Layout) -> None:
        super().__init__(out, shape)
        # Stored JSON text and numeric literals are JSON already: embedded, not parsed.
        self.raw = [shape.as_text(name) for name in self.columns]

    def line(self, row: Sequence[Any]) -> bytes:
        record = {
            name: orjson.Fragment(value) if raw and value is not None else value
            for name, raw, value in zip(self.columns, self.raw, row, strict=True)
        }
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        self.out.write(b"".join(self.line(row) for row in rows))


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class CsvWriter(Writer):
    def __init__(self, out: IO[bytes], shape: Layout) -> None:
        super().__init__(out, shape)
        self.text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self.csv = csv.writer(self.text)
        self.csv.writerow(self.columns)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        self.csv.writerows([_csv_value(value) for value in row] for row in rows)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()
        super().close()


def _arrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExportError(
            "Parquet needs pyarrow: install the export extra "
            "(pip install 'llm-observatory[export]'), or choose jsonl or csv"
        ) from exc
    return pa, pq


def arrow_schema(shape: Layout) -> Any:
    """Arrow types for the PostgreSQL ones; JSON stays its text."""
    pa, _ = _arrow()
    types = {
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "numeric": pa.decimal128(18, 9),
        "int8": pa.int64(),
        "int4": pa.int32(),
        "float8": pa.float64(),
        "bool": pa.bool_(),
        "_text": pa.list_(pa.string()),
    }
    return pa.schema(
        [pa.field(name, types.get(shape.types[name], pa.string())) for name in shape.columns]
    )


class ParquetWriter(Writer):
    """Row groups of ROW_GROUP_ROWS; the sink need not be seekable (stdout works)."""

    def __init__(self, out: IO[bytes], shape: Layout) -> None:
        super().__init__(out, shape)
        self.pa, pq = _arrow()
        self.schema = arrow_schema(shape)
        self.writer = pq.ParquetWriter(out, self.schema, compression="zstd")
        self.exact = [shape.is_exact(name) for name in self.columns]
        self.pending: list[list[Any]] = [[] for _ in self.columns]
        self.rows = 0

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            for values, exact, value in zip(self.pending, self.exact, row, strict=True):
                values.append(Decimal(value) if exact and value is not None else value)
        self.rows += len(rows)
        if self.rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self.rows:
            return
        arrays = [
            self.pa.array(values, type=f.type)
            for values, f in zip(self.pending, self.schema, strict=True)
        ]
        self.writer.write_batch(self.pa.record_batch(arrays, schema=self.schema))
        self.pending = [[] for _ in self.columns]
        self.rows = 0

    def close(self) -> None:
        self._flush()
        self.writer.close()
        super().close()


WRITERS: dict[str, type[Writer]] = {
    "jsonl": JsonlWriter,
    "csv": CsvWriter,
    "parquet": ParquetWriter,
}


# --- reading ----------------------------------------------------------------------------


def export(
    conn: psycopg.Connection,
    where: ExportFilter,
    fmt: Format,
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
    page_rows: int = PAGE_ROWS,
) -> int:
    """Write the rows to `out` in `fmt` from a server-side cursor; the number of rows."""
    shape = layout(conn)
    writer = WRITERS[fmt](out, shape)
    query, params = export_query(where, shape)
    total = 0
    with conn.transaction(), conn.cursor(name="llmo_export", row_factory=tuple_row) as cursor:
        cursor.execute(query, params)
        while page := cursor.fetchmany(page_rows):
            writer.write(page)
            total += len(page)
            if progress is not None:
                progress(total)
    writer.close()
    return total


async def stream_jsonl(
    conn: psycopg.AsyncConnection, where: ExportFilter, page_rows: int = PAGE_ROWS
) -> AsyncIterator[bytes]:
    """JSON lines, a page per chunk, from a server-side cursor (GET /api/v1/export)."""
    shape = await layout_async(conn)
    writer = JsonlWriter(io.BytesIO(), shape)
    query, params = export_query(where, shape)
    async with conn.transaction(), conn.cursor(name="llmo_export", row_factory=tuple_row) as cursor:
        await cursor.execute(query, params)
        while page := await cursor.fetchmany(page_rows):
            yield b"".join(writer.line(row) for row in page)
