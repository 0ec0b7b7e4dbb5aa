"""Deleting a person's data: by user, conversation, trace or service, optionally before a time.

What a selector removes:

* spans: every span of the traces the user / conversation id appears in (a trace's
  tool calls and retrievals carry the prompt's content without carrying the id), or
  of the trace asked for; with `service`, only that service's spans;
* log records: those of the same traces, and those whose attributes carry the id
  (user.id, enduser.id, ... as the collector reads them);
* metric points: those whose attributes carry the user or conversation id (metrics
  name no trace), and with `service` alone, that service's points.

Several criteria narrow each other (AND); `before` keeps newer rows. The traces are
found once, up front, from the indexes on user and conversation ids (0005 for LLM
calls, 0006 for the other spans), into a temporary table: deleting a trace's first
chunk must not hide it from the next one.

The summaries of the traces deleted from (storage/trace_summaries.py) are rebuilt
from what is left of them at the end, in one transaction: a trace deleted whole
leaves the traces list, one that lost a service's spans is summarised without them.
In the same transaction the call rollups (storage/call_rollups.py) of the hours and
services deleted from are summed again.

Deletion never blocks ingest: it walks each table chunk by chunk and each chunk an
hour of rows at a time, deleting at most `batch_size` rows per transaction
(`DELETE ... WHERE ctid = ANY(ARRAY(SELECT ctid ... LIMIT n))` on the chunk itself),
with a lock timeout so it waits behind nothing and takes no table lock beyond the
ROW EXCLUSIVE every insert also takes. On the licensed build a compressed chunk is
deleted from through the hypertable, an hour per statement: TimescaleDB (2.11+)
decompresses only the batches the hour's rows are in (its docs: "filter on the
columns you segmentby and orderby"), and the compression policy recompresses the
chunk later. The Apache build has no compressed chunks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from llm_observatory.core.conventions import CONVERSATION_KEYS, USER_KEYS
from llm_observatory.core.settings import MaintenanceSettings
from llm_observatory.core.signals import LOGS, METRICS, TRACES
from llm_observatory.storage import call_rollups, trace_summaries

# Spans first, then the log records of their traces, then metric points: the order
# counts are reported in.
_SIGNALS = (TRACES, LOGS, METRICS)
TABLES = tuple(signal.table.table for signal in _SIGNALS)
TIME_COLUMNS = {signal.table.table: signal.table.time_column for signal in _SIGNALS}
# Where instrumentations put the ids: the collector reads these attributes into
# spans.user_id / conversation_id (core/conventions.py).
USER_ATTRIBUTES = USER_KEYS
CONVERSATION_ATTRIBUTES = CONVERSATION_KEYS
MAX_VALUE_LENGTH = 1024
DEFAULT_BATCH_SIZE: int = MaintenanceSettings.model_fields["deletion_batch_size"].default
SLICE = timedelta(hours=1)
LOCK_TIMEOUT = "2s"
LOCK_RETRIES = 5
TRACES_TABLE = "llmo_deletion_traces"
TOUCHED_TABLE = "llmo_deletion_touched"
HOURS_TABLE = "llmo_deletion_hours"

Criterion = Literal["user", "conversation", "trace", "service"]


class SelectorError(ValueError):
    """A selector that selects nothing definite (no criterion, an empty or huge value)."""


@dataclass(frozen=True)
class Selector:
    user: str | None = None
    conversation: str | None = None
    trace: str | None = None
    service: str | None = None
    before: datetime | None = None

    def __post_init__(self) -> None:
        values = {"user": self.user, "conversation": self.conversation, "trace": self.trace}
        values["service"] = self.service
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            raise SelectorError(
                "say whose data: at least one of user, conversation, trace or service "
                "(data older than a date goes with RETENTION_DAYS)"
            )
        for name, value in given.items():
            if not isinstance(value, str) or not value.strip() or "\x00" in value:
                raise SelectorError(f"{name} must be a non-empty string")
            if len(value) > MAX_VALUE_LENGTH:
                raise SelectorError(f"{name} is longer than {MAX_VALUE_LENGTH} characters")
        if self.before is not None and self.before.tzinfo is None:
            raise SelectorError("before must carry a time zone (e.g. 2026-01-31T00:00:00Z)")

    @property
    def by_identity(self) -> bool:
        return any(v is not None for v in (self.user, self.conversation, self.trace))

    def as_json(self) -> dict[str, str]:
        """The selector as stored in deletion_audit (and signed in a request)."""
        found = {k: v for k, v in asdict(self).items() if v is not None and k != "before"}
        if self.before is not None:
            found["before"] = self.before.astimezone(UTC).isoformat()
        return found

    @classmethod
    def from_json(cls, value: Any) -> Selector:
        if not isinstance(value, dict) or set(value) - {*asdict(cls(trace="x")), "before"}:
            raise SelectorError(f"not a selector: {str(value)[:200]}")
        before = value.get("before")
        if before is not None:
            try:
                before = datetime.fromisoformat(before)
            except (TypeError, ValueError) as exc:
                raise SelectorError(f"before is not a time: {before!r}"[:200]) from exc
        return cls(**{**value, "before": before})

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_json().items())


# --- the SQL of a selector ----------------------------------------------------------------


def trace_set_sql(selector: Selector) -> tuple[sql.Composable, list[Any]] | None:
    """The trace ids the identity criteria select (INTERSECT of each); None without any."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    before = sql.SQL(" AND start_time < %s") if selector.before else sql.SQL("")
    for column, value in (("user_id", selector.user), ("conversation_id", selector.conversation)):
        if value is None:
            continue
        # Two partial indexes: LLM calls (0005), the other spans carrying the id (0006).
        one = sql.SQL(
            "SELECT trace_id FROM spans WHERE is_llm AND {col} = %s{before} "
            "UNION SELECT trace_id FROM spans WHERE NOT is_llm AND {col} = %s{before}"
        ).format(col=sql.Identifier(column), before=before)
        parts.append(sql.SQL("({})").format(one))
        extra = [selector.before] if selector.before else []
        params += [value, *extra, value, *extra]
    if selector.trace is not None:
        parts.append(sql.SQL("(SELECT %s::text AS trace_id)"))
        params.append(selector.trace)
    if not parts:
        return None
    return sql.SQL(" INTERSECT ").join(parts), params


def _attributes_match(selector: Selector) -> tuple[sql.Composable, list[Any]] | None:
    """Rows whose attributes carry the user and conversation ids (None: no such criterion)."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for keys, value in (
        (USER_ATTRIBUTES, selector.user),
        (CONVERSATION_ATTRIBUTES, selector.conversation),
    ):
        if value is None:
            continue
        either = sql.SQL(" OR ").join(sql.SQL("attributes->>%s = %s") for _ in keys)
        clauses.append(sql.SQL("({})").format(either))
        for key in keys:
            params += [key, value]
    if not clauses:
        return None
    return sql.SQL(" AND ").join(clauses), params


def row_predicate(
    selector: Selector, table: str, traces: sql.Composable, trace_params: list[Any]
) -> tuple[sql.Composable, list[Any]]:
    """WHERE clause of the rows of `table` the selector deletes.

    `traces` is the SQL of the selected trace ids: the subquery itself for a count,
    the temporary table for a deletion.
    """
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if selector.by_identity:
        in_traces = sql.SQL("trace_id IN ({})").format(traces)
        attrs = None if selector.trace is not None else _attributes_match(selector)
        if table == "spans":
            clauses.append(in_traces)
            params += trace_params
        elif table == "log_records":
            if attrs is None:
                clauses.append(in_traces)
                params += trace_params
            else:
                clauses.append(sql.SQL("({} OR {})").format(in_traces, attrs[0]))
                params += [*trace_params, *attrs[1]]
        elif attrs is None:  # metric points of a trace: metrics carry no trace id
            clauses.append(sql.SQL("false"))
        else:
            clauses.append(attrs[0])
            params += attrs[1]
    if selector.service is not None:
        clauses.append(sql.SQL("service_name = %s"))
        params.append(selector.service)
    if selector.before is not None:
        clauses.append(sql.SQL("{} < %s").format(sql.Identifier(TIME_COLUMNS[table])))
        params.append(selector.before)
    return sql.SQL(" AND ").join(clauses), params


def _count_queries(selector: Selector) -> list[tuple[str, sql.Composable, list[Any]]]:
    found = trace_set_sql(selector)
    traces, trace_params = found if found else (sql.SQL("SELECT NULL::text"), [])
    queries = []
    for table in TABLES:
        where, params = row_predicate(selector, table, traces, trace_params)
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where)
        queries.append((table, query, params))
    return queries


def count(conn: psycopg.Connection, selector: Selector) -> dict[str, int]:
    """Rows per table the selector would delete (a dry run: reads only)."""
    return {
        table: conn.execute(query, params).fetchone()[0]  # type: ignore[index]
        for table, query, params in _count_queries(selector)
    }


async def count_async(conn: psycopg.AsyncConnection, selector: Selector) -> dict[str, int]:
    counts = {}
    async with conn.cursor(row_factory=tuple_row) as cursor:
        for table, query, params in _count_queries(selector):
            await cursor.execute(query, params)
            row = await cursor.fetchone()
            counts[table] = row[0] if row else 0
    return counts


# --- deleting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    schema: str
    name: str
    start: datetime
    end: datetime
    compressed: bool


CHUNKS_SQL = """
    SELECT chunk_schema, chunk_name, range_start, range_end, coalesce(is_compressed, false)
    FROM timescaledb_information.chunks
    WHERE hypertable_schema = current_schema() AND hypertable_name = %s
      AND (%s::timestamptz IS NULL OR range_start < %s::timestamptz)
    ORDER BY range_start
"""


def slices(
    chunk: Chunk, before: datetime | None, width: timedelta = SLICE
) -> Iterator[tuple[datetime, datetime]]:
    """The chunk's time range (up to `before`) in steps of `width`."""
    end = min(chunk.end, before) if before else chunk.end
    start = chunk.start
    while start < end:
        yield start, min(start + width, end)
        start += width


@dataclass
class Deleter:
    """Deletes a selector's rows in short transactions; `deleted` counts per table."""

    conn: psycopg.Connection
    selector: Selector
    batch_size: int = DEFAULT_BATCH_SIZE
    progress: Callable[[str, int], None] | None = None
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    def run(self) -> dict[str, int]:
        if not self.conn.autocommit:
            raise ValueError("Deleter needs an autocommit connection (a transaction per batch)")
        self.conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        traces = self._collect_traces()
        touched = self._collect_touched(traces)
        hours = self._collect_hours(traces)
        try:
            for table in TABLES:
                where, params = row_predicate(self.selector, table, traces, [])
                for chunk in self._chunks(table):
                    self._chunk(table, chunk, where, params)
        finally:
            # Also after a failure: the traces deleted from until then are summarised
            # as what is left of them.
            with self.conn.transaction():
                for statement in (
                    *trace_summaries.rebuild_sql(touched),
                    *call_rollups.rebuild_sql(hours),
                ):
                    self.conn.execute(statement)
        for name in (TRACES_TABLE, TOUCHED_TABLE, HOURS_TABLE):
            self.conn.execute(
                sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(name))
            )
        return dict(self.deleted)

    def _temp_table(
        self, name: str, columns: str, query: sql.Composable | None, params: list[Any]
    ) -> sql.Composable:
        """A new temporary table `name` (`columns`, their primary key) holding `query`'s
        rows; the query of its rows."""
        table = sql.Identifier(name)
        names = ", ".join(column.split()[0] for column in columns.split(", "))
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(table))
        self.conn.execute(
            sql.SQL("CREATE TEMP TABLE {} ({}, PRIMARY KEY ({}))").format(
                table,
                sql.SQL(columns),  # type: ignore[arg-type]
                sql.SQL(names),  # type: ignore[arg-type]
            )
        )
        if query is not None:
            self.conn.execute(sql.SQL("INSERT INTO {} {}").format(table, query), params)
        return sql.SQL("SELECT {} FROM pg_temp.{}").format(sql.SQL(names), table)  # type: ignore[arg-type]

    def _collect_touched(self, traces: sql.Composable) -> sql.Composable:
        """The traces whose summaries the deletion changes (storage/trace_summaries.py):
        those selected, or those with a span of the service."""
        if self.selector.by_identity:
            return traces
        where, params = row_predicate(self.selector, "spans", traces, [])
        query = sql.SQL("SELECT DISTINCT trace_id FROM spans WHERE {}").format(where)
        return self._temp_table(TOUCHED_TABLE, "trace_id text", query, params)

    def _collect_hours(self, traces: sql.Composable) -> sql.Composable:
        """The hours and services of the LLM calls the deletion removes, whose call
        rollups it changes (storage/call_rollups.py)."""
        where, params = row_predicate(self.selector, "spans", traces, [])
        query = sql.SQL(call_rollups.TOUCHED_SQL).format(where=where)  # type: ignore[arg-type]
        return self._temp_table(HOURS_TABLE, "hour timestamptz, service_name text", query, params)

    def _collect_traces(self) -> sql.Composable:
        found = trace_set_sql(self.selector)
        query, params = found if found is not None else (None, [])
        traces = self._temp_table(TRACES_TABLE, "trace_id text", query, params)
        self.conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(sql.Identifier(TRACES_TABLE)))
        return traces

    def _chunks(self, table: str) -> list[Chunk]:
        before = self.selector.before
        rows = self.conn.execute(CHUNKS_SQL, (table, before, before)).fetchall()
        return [Chunk(*row) for row in rows]

    def _chunk(self, table: str, chunk: Chunk, where: sql.Composable, params: list[Any]) -> None:
        column = sql.Identifier(TIME_COLUMNS[table])
        target = sql.Identifier(chunk.schema, chunk.name)
        for start, end in slices(chunk, self.selector.before):
            bounds = [start, end]
            try:
                if chunk.compressed:
                    statement = sql.SQL("DELETE FROM {} WHERE {} >= %s AND {} < %s AND {}").format(
                        sql.Identifier(table), column, column, where
                    )
                    self._count(table, self._execute(statement, [*bounds, *params]))
                    continue
                statement = sql.SQL(
                    "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} "
                    "WHERE {c} >= %s AND {c} < %s AND {w} LIMIT {n}))"
                ).format(t=target, c=column, w=where, n=sql.Literal(self.batch_size))
                while True:
                    done = self._execute(statement, [*bounds, *params])
                    self._count(table, done)
                    if done < self.batch_size:
                        break
            except psycopg.errors.UndefinedTable:
                return  # retention dropped the chunk meanwhile: nothing left to delete

    def _execute(self, statement: sql.Composable, params: list[Any]) -> int:
        for attempt in range(LOCK_RETRIES):
            try:
                with self.conn.transaction():
                    return self.conn.execute(statement, params).rowcount
            except psycopg.errors.LockNotAvailable:
                # Something holds a lock stronger than ours (a drop_chunks, an ALTER):
                # step aside rather than queue ingest behind us.
                if attempt == LOCK_RETRIES - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        return 0

    def _count(self, table: str, rows: int) -> None:
        if rows:
            self.deleted[table] += rows
            if self.progress:
                self.progress(table, self.deleted[table])


# --- the audit trail --------------------------------------------------------------------


def start_audit(
    conn: psycopg.Connection, selector: Selector, requested_by: str, via: str = "cli"
) -> int:
    row = conn.execute(
        "INSERT INTO deletion_audit (requested_by, via, selector, status, started_at) "
        "VALUES (%s, %s, %s, 'running', now()) RETURNING id",
        (requested_by, via, psycopg.types.json.Jsonb(selector.as_json())),
    ).fetchone()
    return row[0]  # type: ignore[index]


def finish_audit(
    conn: psycopg.Connection, audit_id: int, deleted: dict[str, int], error: str | None = None
) -> None:
    conn.execute(
        "UPDATE deletion_audit SET status = %s, finished_at = now(), rows_deleted = %s, "
        "error = %s WHERE id = %s",
        (
            "failed" if error else "done",
            psycopg.types.json.Jsonb(deleted),
            error[:1000] if error else None,
            audit_id,
        ),
    )


def delete(
    conn: psycopg.Connection,
    selector: Selector,
    requested_by: str,
    *,
    via: str = "cli",
    audit_id: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[int, dict[str, int]]:
    """Delete the selector's rows and record it in deletion_audit: (audit id, rows per table).

    A failure (or an interrupt) is recorded too, with the rows deleted until then.
    """
    if audit_id is None:
        audit_id = start_audit(conn, selector, requested_by, via)
    deleter = Deleter(conn, selector, batch_size, progress)
    try:
        deleted = deleter.run()
    except BaseException as exc:
        with contextlib.suppress(psycopg.Error):
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            finish_audit(
                conn, audit_id, deleter.deleted, f"{type(exc).__name__}: {exc}".rstrip(": ")
            )
        raise
    finish_audit(conn, audit_id, deleted)
    return audit_id, deleted
