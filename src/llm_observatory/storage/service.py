"""The storage service: the ingest API the collector calls, in front of the batch writers.

POST /v1/ingest/{traces|metrics|logs} with {"columns": [...], "rows": [[...], ...]}
(rows built by the table's spec in core.rows) answers 200 only after the rows are
committed. Concurrent requests share transactions (core.batching), so
the database sees few large COPYs however many exports arrive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core import tracing
from llm_observatory.core.batching import BATCH_CONTEXTS, Backpressure, BatchFailed, BatchQueue
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import ping_database
from llm_observatory.core.rows import TABLE_SPECS
from llm_observatory.core.settings import StorageSettings
from llm_observatory.storage import metrics
from llm_observatory.storage.migrate import MigrationError, run_migrations_locked
from llm_observatory.storage.writer import (
    BatchWriter,
    LogRecordWriter,
    MetricPointWriter,
    SpanWriter,
)

log = get_logger(__name__)

# signal -> (writer type, table)
SIGNALS: dict[str, tuple[type[BatchWriter], str]] = {
    "traces": (SpanWriter, "spans"),
    "metrics": (MetricPointWriter, "metric_points"),
    "logs": (LogRecordWriter, "log_records"),
}
INGEST_PREFIX = "/v1/ingest/"
INGEST_ROUTE = "/v1/ingest/{signal}"


class InvalidBatch(ValueError):
    pass


def decode_rows(signal: str, body: bytes) -> list[list[Any]]:
    """The rows of an ingest body, checked against the table's columns."""
    columns = TABLE_SPECS[signal].column_names
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidBatch(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        raise InvalidBatch('body must be {"columns": [...], "rows": [[...], ...]}')
    if tuple(payload.get("columns") or ()) != columns:
        # A collector of another version: refuse rather than write columns crosswise.
        raise InvalidBatch(f"columns must be {list(columns)}, got {payload.get('columns')}")
    rows = payload["rows"]
    width = len(columns)
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidBatch(f"row {index} is not a list of {width} values")
    return rows


class Storage:
    def __init__(self, settings: StorageSettings, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.settings = settings
        self._repair = asyncio.Lock()
        self.queues: dict[str, BatchQueue] = {}
        for signal, (writer_type, table) in SIGNALS.items():
            writer = writer_type(pool, settings.write_method)
            self.queues[signal] = BatchQueue(
                f"write-{table}",
                self._writer(writer, table),
                batch_size=settings.batch_size,
                linger=settings.flush_interval_secs,
                max_items=settings.max_queue_size,
                workers=settings.writer_concurrency,
                timeout=settings.db_pool_timeout + 30,
                on_depth=metrics.QUEUE_DEPTH.labels(table).set,
                on_failure=lambda size, error, table=table: metrics.WRITE_FAILURES.labels(
                    table
                ).inc(),
                capture=tracing.current_context if tracing.enabled() else None,
            )
        metrics.QUEUE_CAPACITY.set(settings.max_queue_size)

    def _writer(self, writer: BatchWriter, table: str) -> Callable:
        async def write(rows: list[list[Any]]) -> None:
            with metrics.FLUSH_DURATION.labels(table).time():
                try:
                    await writer.write_rows(rows)
                except psycopg.errors.UndefinedTable:
                    # The database was recreated under us (a reset, a new volume):
                    # bring the schema back, then write.
                    await self.restore_schema()
                    await writer.write_rows(rows)
            metrics.BATCH_ROWS.labels(table).observe(len(rows))
            metrics.ROWS_WRITTEN.labels(table).inc(len(rows))

        async def traced_write(rows: list[list[Any]]) -> None:
            tracer = tracing.tracer()
            if tracer is None:
                await write(rows)
                return
            with tracer.start_as_current_span(
                f"write {table}",
                kind=tracing.SpanKind.CLIENT,
                attributes={
                    "db.system": "postgresql",
                    "db.collection.name": table,
                    "db.operation.name": self.settings.write_method.upper(),
                    "llmo.batch.rows": len(rows),
                },
                record_exception=False,
                **tracing.batch_span_args(BATCH_CONTEXTS.get()),
            ) as span:
                try:
                    await write(rows)
                except Exception as exc:
                    tracing.record_error(span, exc)
                    raise

        return traced_write

    async def restore_schema(self) -> None:
        if not self.settings.run_migrations:
            raise BatchFailed("the schema is missing and RUN_MIGRATIONS=false: run migrations")
        async with self._repair:
            log.warning("tables missing: re-applying migrations")
            try:
                await asyncio.to_thread(run_migrations_locked, self.settings.migrations_url)
            except MigrationError as exc:
                log.error("schema repair failed", error=str(exc))
                raise BatchFailed(str(exc)) from exc

    def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    async def stop(self) -> None:
        for queue in self.queues.values():
            await queue.stop()

    async def ingest(self, signal: str, rows: list[list[Any]]) -> None:
        metrics.ROWS_RECEIVED.labels(SIGNALS[signal][1]).inc(len(rows))
        await self.queues[signal].submit(rows)

    async def check_database(self) -> None:
        await ping_database(self.pool, metrics.DATABASE_UP)
        stats = self.pool.get_stats()
        metrics.POOL_SIZE.set(stats.get("pool_size", 0))
        metrics.POOL_AVAILABLE.set(stats.get("pool_available", 0))


class IngestApp:
    """Plain ASGI: the collector's batches are the hot path, and there are two routes."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/health":
            await self._health(send)
            return
        signal = path[len(INGEST_PREFIX) :] if path.startswith(INGEST_PREFIX) else None
        if signal not in SIGNALS:
            await _json(send, 404, {"error": f"no endpoint at {path}"})
            return
        started = time.perf_counter()
        tracer = tracing.tracer()
        if tracer is None:
            status = await self._ingest(signal, scope, receive, send)
        else:
            with tracer.start_as_current_span(
                f"ingest {signal}",
                context=tracing.extract(scope["headers"]),
                kind=tracing.SpanKind.SERVER,
                attributes={"llmo.signal": signal, "http.route": INGEST_ROUTE},
            ) as span:
                status = await self._ingest(signal, scope, receive, send)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(tracing.Status(tracing.StatusCode.ERROR))
        metrics.HTTP_REQUEST_DURATION.labels(INGEST_ROUTE, scope["method"], str(status)).observe(
            time.perf_counter() - started
        )

    async def _ingest(self, signal: str, scope: dict, receive: Callable, send: Callable) -> int:
        if scope["method"] != "POST":
            await _json(send, 405, {"error": "ingest takes POST"})
            return 405
        body = await _read(receive)
        try:
            rows = decode_rows(signal, body)
        except InvalidBatch as exc:
            await _json(send, 400, {"error": str(exc)})
            return 400
        try:
            await self.storage.ingest(signal, rows)
        except Backpressure as exc:
            await _json(
                send,
                503,
                {"error": str(exc)},
                [(b"retry-after", str(exc.retry_after).encode())],
            )
            return 503
        await _json(send, 200, {"accepted": len(rows)})
        return 200

    async def _health(self, send: Callable) -> None:
        try:
            await self.storage.check_database()
        except Exception as exc:
            await _json(send, 503, {"status": "degraded", "database": f"down: {exc}"})
            return
        await _json(send, 200, {"status": "ok", "database": "ok"})


async def _read(receive: Callable) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(
    send: Callable, status: int, body: dict, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
