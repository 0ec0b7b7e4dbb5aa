"""The storage service: the ingest API the collector calls, in front of the table writers.

POST /v1/ingest/{traces|metrics|logs} with `Authorization: Bearer STORAGE_INGEST_TOKEN`
and a body of the table's column header line, then one COPY text row per line
(core/rows.py). It answers 200 only after the rows are committed, with the rows the
database refused (kept in rejected_records): {"accepted": n, "rejected": [[row,
reason], ...]}. Concurrent requests share transactions (core.batching), so the
database sees few large COPYs however many exports arrive.

Every request is checked before anything is queued: the token (401), the body size
(413, MAX_INGEST_BODY_BYTES), UTF-8, the header (the collector's columns must be this
version's) and each row's field count (400, naming the row). Values themselves are
checked by PostgreSQL, row by row (storage/writer.py).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core import tracing
from llm_observatory.core.batching import (
    BATCH_CONTEXTS,
    Backpressure,
    BatchFailed,
    BatchQueue,
    Refusal,
    row_queue,
)
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import health_response, ping_database
from llm_observatory.core.settings import StorageSettings
from llm_observatory.core.signals import SIGNALS
from llm_observatory.storage import metrics
from llm_observatory.storage.writer import TableWriter, writers

log = get_logger(__name__)

INGEST_PREFIX = "/v1/ingest/"
INGEST_ROUTE = "/v1/ingest/{signal}"


class InvalidBatch(ValueError):
    """The body is not a batch of this version's rows (400)."""


def decode_rows(signal: str, body: bytes) -> list[bytes]:
    """The rows of an ingest body, checked against the table's columns."""
    spec = SIGNALS[signal].table
    if not body.endswith(b"\n"):
        raise InvalidBatch("the body must be lines, each ending in a newline")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBatch(f"the body is not UTF-8 (byte {exc.start})") from None
    lines = body[:-1].split(b"\n")
    header = lines[0].decode()
    if header != spec.header:
        # A collector of another version: refuse rather than write columns crosswise.
        raise InvalidBatch(
            f"the first line must be the columns {spec.header!r}, got {header[:300]!r}"
        )
    rows = lines[1:]
    tabs = len(spec.columns) - 1
    for index, row in enumerate(rows):
        found = row.count(b"\t")
        if found != tabs:
            raise InvalidBatch(f"row {index} has {found + 1} fields, not {tabs + 1}")
    return rows


class Storage:
    def __init__(self, settings: StorageSettings, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.settings = settings
        self.queues: dict[str, BatchQueue[bytes]] = {}
        for name, writer in writers(pool, settings.rejected_record_max_bytes).items():
            table = writer.signal.table.table
            self.queues[name] = row_queue(
                f"write-{table}",
                self._handler(writer),
                settings,
                linger=settings.flush_interval_secs,
                workers=settings.writer_concurrency,
                timeout=settings.db_pool_timeout + 30,
                on_depth=metrics.QUEUE_DEPTH.labels(table).set,
                on_failure=lambda size, error, table=table: metrics.WRITE_FAILURES.labels(
                    table
                ).inc(),
            )
        metrics.QUEUE_CAPACITY.set(settings.max_queue_size)

    def _handler(self, writer: TableWriter) -> Callable:
        table = writer.signal.table.table

        async def write(rows: list[bytes]) -> list[Refusal]:
            with metrics.FLUSH_DURATION.labels(table).time():
                try:
                    result = await writer.write_rows(rows)
                except psycopg.errors.UndefinedTable as exc:
                    # The database was recreated under us (a reset, a new volume): the
                    # maintenance service re-applies the migrations within a minute.
                    log.error("tables missing: waiting for the schema", table=table)
                    raise BatchFailed(f"table {table} does not exist yet; retry later") from exc
            metrics.BATCH_ROWS.labels(table).observe(len(rows))
            metrics.ROWS_WRITTEN.labels(table).inc(len(rows) - len(result.refused))
            if result.refused:
                metrics.ROWS_REJECTED.labels(table).inc(len(result.refused))
                log.warning("rows refused", table=table, count=len(result.refused))
            return result.refused

        async def traced_write(rows: list[bytes]) -> list[Refusal]:
            with tracing.span(
                f"write {table}",
                kind=tracing.SpanKind.CLIENT,
                attributes={
                    "db.system": "postgresql",
                    "db.collection.name": table,
                    "db.operation.name": "COPY",
                    "llmo.batch.rows": len(rows),
                },
                batch=BATCH_CONTEXTS.get(),
            ):
                return await write(rows)

        return traced_write

    def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    async def stop(self) -> None:
        for queue in self.queues.values():
            await queue.stop()

    async def ingest(self, signal: str, rows: list[bytes]) -> list[Refusal]:
        metrics.ROWS_RECEIVED.labels(SIGNALS[signal].table.table).inc(len(rows))
        return await self.queues[signal].submit(rows)

    async def check_database(self) -> None:
        await ping_database(self.pool, metrics.DATABASE_UP)
        stats = self.pool.get_stats()
        metrics.POOL_SIZE.set(stats.get("pool_size", 0))
        metrics.POOL_AVAILABLE.set(stats.get("pool_available", 0))


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class IngestApp:
    """Plain ASGI: the collector's batches are the hot path, and there are two routes."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.max_bytes = storage.settings.max_ingest_body_bytes
        self._token = f"Bearer {storage.settings.storage_ingest_token}".encode()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/health":
            answer = await health_response({"database": self.storage.check_database})
            await answer(scope, receive, send)
            return
        signal = path[len(INGEST_PREFIX) :] if path.startswith(INGEST_PREFIX) else None
        if signal not in SIGNALS:
            await _json(send, 404, {"error": f"no endpoint at {path[:200]}"})
            return
        started = time.perf_counter()
        with tracing.span(
            f"ingest {signal}",
            kind=tracing.SpanKind.SERVER,
            headers=scope["headers"],
            attributes={"llmo.signal": signal, "http.route": INGEST_ROUTE},
        ) as span:
            status = await self._ingest(signal, scope, receive, send)
            tracing.set_http_status(span, status)
        metrics.HTTP_REQUEST_DURATION.labels(INGEST_ROUTE, scope["method"], str(status)).observe(
            time.perf_counter() - started
        )

    def _check(self, scope: dict) -> None:
        if scope["method"] != "POST":
            raise _Refused(405, "ingest takes POST")
        headers = dict(scope["headers"])
        if not hmac.compare_digest(headers.get(b"authorization", b""), self._token):
            raise _Refused(401, "send 'Authorization: Bearer <STORAGE_INGEST_TOKEN>'")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _Refused(413, f"body larger than {self.max_bytes} bytes")

    async def _ingest(self, signal: str, scope: dict, receive: Callable, send: Callable) -> int:
        try:
            self._check(scope)
            body = await _read(receive, self.max_bytes)
            rows = decode_rows(signal, body)
        except _Refused as exc:
            await _json(send, exc.status, {"error": str(exc)})
            return exc.status
        except InvalidBatch as exc:
            await _json(send, 400, {"error": str(exc)})
            return 400
        try:
            refused = await self.storage.ingest(signal, rows)
        except Backpressure as exc:
            await _json(
                send, 503, {"error": str(exc)}, [(b"retry-after", str(exc.retry_after).encode())]
            )
            return 503
        await _json(send, 200, {"accepted": len(rows) - len(refused), "rejected": refused})
        return 200


async def _read(receive: Callable, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
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
