"""The collector's exporter: encoded rows, batched across exports, forwarded to storage.

An export is answered only after storage has committed every row it carried, or
refused single rows (kept in rejected_records), so a success answer means the data is
in the database; anything else gets a retryable error and the sender's exporter tries
again (storage ignores duplicate spans).

Throughput comes from batching across concurrent exports (core.batching): per signal,
WORKER_THREADS senders each take whatever rows are queued (up to BATCH_SIZE, waiting
at most FLUSH_INTERVAL for a partial batch to fill) and forward them in one request.
Memory stays bounded: past MAX_QUEUE_SIZE rows in flight per signal, new exports are
refused with a retryable "queue full".

The storage protocol: POST /v1/ingest/{signal}, `Authorization: Bearer
STORAGE_INGEST_TOKEN`, a body of the table's column header line then one COPY text
row per line (core/rows.py); the answer {"accepted": n, "rejected": [[row, reason]...]}.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import orjson

from llm_observatory.collector import metrics
from llm_observatory.core import tracing
from llm_observatory.core.batching import BATCH_CONTEXTS, BatchFailed, Refusal, row_queue
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.signals import SIGNALS

INGEST_CONTENT_TYPE = "text/tab-separated-values; charset=utf-8; format=postgresql-copy"


class StorageUnavailable(BatchFailed):
    """Storage did not commit the batch (HTTP 503 / UNAVAILABLE)."""


class StorageClient:
    def __init__(self, base_url: str, token: str, timeout: float) -> None:
        self._headers = {"content-type": INGEST_CONTENT_TYPE, "authorization": f"Bearer {token}"}
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def ingest(self, signal: str, rows: Sequence[str]) -> list[Refusal]:
        """Send rows; return the ones storage refused (row position, reason)."""
        header = SIGNALS[signal].table.header
        body = "\n".join((header, *rows, "")).encode()
        headers = dict(self._headers)
        if tracing.enabled():
            tracing.inject(headers)
        try:
            response = await self._client.post(
                f"/v1/ingest/{signal}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"storage unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise StorageUnavailable(
                f"storage answered {response.status_code}: {response.text[:300]}"
            )
        answer = orjson.loads(response.content)
        return [(int(position), str(reason)) for position, reason in answer.get("rejected", ())]

    async def health(self) -> None:
        response = await self._client.get("/health", timeout=2.0)
        response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


class Exporter:
    """One group-commit queue per signal, each forwarding batches of rows to storage."""

    def __init__(self, settings: CollectorSettings, storage: StorageClient) -> None:
        self.storage = storage
        self.queues = {
            name: row_queue(
                f"forward-{name}",
                self._handler(name),
                settings,
                linger=settings.flush_interval,
                workers=settings.worker_threads,
                timeout=settings.storage_timeout * 2,
                on_depth=self._depth_changed,
                on_batch=self._batch_done(name),
                on_failure=lambda size, error, name=name: metrics.FORWARD_FAILURES.labels(
                    name
                ).inc(),
            )
            for name in SIGNALS
        }
        metrics.QUEUE_CAPACITY.set(settings.max_queue_size)

    def _handler(self, signal: str):  # type: ignore[no-untyped-def]
        async def forward(rows: list[str]) -> list[Refusal]:
            with tracing.span(
                f"forward {signal}",
                kind=tracing.SpanKind.CLIENT,
                attributes={"llmo.signal": signal, "llmo.batch.items": len(rows)},
                batch=BATCH_CONTEXTS.get(),
            ):
                return await self.storage.ingest(signal, rows)

        return forward

    def _depth_changed(self, _depth: int) -> None:
        metrics.QUEUE_DEPTH.set(self.queued)

    @staticmethod
    def _batch_done(signal: str):  # type: ignore[no-untyped-def]
        def observe(size: int, seconds: float) -> None:
            metrics.BATCH_SIZE.observe(size)
            metrics.FORWARD_DURATION.labels(signal).observe(seconds)

        return observe

    @property
    def queued(self) -> int:
        return sum(queue.queued for queue in self.queues.values())

    async def start(self) -> None:
        for queue in self.queues.values():
            queue.start()

    async def stop(self) -> None:
        await asyncio.gather(*(queue.stop() for queue in self.queues.values()))

    async def submit(self, signal: str, rows: list[str]) -> list[Refusal]:
        """Return once storage has committed `rows` (but the refused ones, returned);
        raise Backpressure otherwise."""
        return await self.queues[signal].submit(rows)
