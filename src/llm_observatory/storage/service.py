"""The storage service: the ingest API the collector calls, in front of the batch writers.

POST /v1/ingest/{traces|metrics|logs} with {"records": [...]} answers 200 only after
the records are committed. Concurrent requests share transactions (core.batching), so
the database sees few large COPYs however many exports arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.batching import Backpressure, BatchQueue
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.settings import StorageSettings
from llm_observatory.storage import metrics
from llm_observatory.storage.writer import (
    BatchWriter,
    LogRecordWriter,
    MetricPointWriter,
    SpanWriter,
)

log = get_logger(__name__)

# signal -> (record type, writer type, table)
SIGNALS: dict[str, tuple[type, type[BatchWriter], str]] = {
    "traces": (SpanRecord, SpanWriter, "spans"),
    "metrics": (MetricPointRecord, MetricPointWriter, "metric_points"),
    "logs": (LogRecordRow, LogRecordWriter, "log_records"),
}
INGEST_PREFIX = "/v1/ingest/"


class InvalidBatch(ValueError):
    pass


def decode_records(signal: str, body: bytes) -> list[Any]:
    record_type = SIGNALS[signal][0]
    try:
        payload = orjson.loads(body)
        raw = payload["records"]
        return [record_type(**item) for item in raw]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidBatch(
            f"body must be {{'records': [{record_type.__name__}, ...]}}: {exc}"
        ) from exc


class Storage:
    def __init__(self, settings: StorageSettings, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.queues: dict[str, BatchQueue] = {}
        for signal, (_, writer_type, table) in SIGNALS.items():
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
            )

    @staticmethod
    def _writer(writer: BatchWriter, table: str) -> Callable:
        async def write(records: list[Any]) -> None:
            with metrics.FLUSH_DURATION.labels(table).time():
                await writer.write(records)
            metrics.BATCH_ROWS.labels(table).observe(len(records))
            metrics.ROWS_WRITTEN.labels(table).inc(len(records))

        return write

    def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    async def stop(self) -> None:
        for queue in self.queues.values():
            await queue.stop()

    async def ingest(self, signal: str, records: list[Any]) -> None:
        metrics.ROWS_RECEIVED.labels(SIGNALS[signal][2]).inc(len(records))
        await self.queues[signal].submit(records)

    async def check_database(self) -> None:
        try:
            async with self.pool.connection(timeout=2) as conn:
                await conn.execute("SELECT 1")
        except Exception:
            metrics.DATABASE_UP.set(0)
            raise
        metrics.DATABASE_UP.set(1)
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
        if scope["method"] != "POST":
            await _json(send, 405, {"error": "ingest takes POST"})
            return
        body = await _read(receive)
        try:
            records = decode_records(signal, body)
        except InvalidBatch as exc:
            await _json(send, 400, {"error": str(exc)})
            return
        try:
            await self.storage.ingest(signal, records)
        except Backpressure as exc:
            await _json(
                send,
                503,
                {"error": str(exc)},
                [(b"retry-after", str(exc.retry_after).encode())],
            )
            return
        await _json(send, 200, {"accepted": len(records)})

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
