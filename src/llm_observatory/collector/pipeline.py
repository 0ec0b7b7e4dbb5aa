"""From decoded records to committed rows: enrichment, a bounded queue, batched forwarding.

An export is answered only after storage has committed every record it carried, so a
success answer means the data is in the database; anything else gets a retryable
error and the sender's exporter tries again (storage ignores duplicates).

Throughput comes from batching across concurrent exports (core.batching): per signal,
WORKER_THREADS senders each take whatever exports are queued (up to BATCH_SIZE items,
waiting at most FLUSH_INTERVAL for a partial batch to fill) and forward them to storage
in one request. Memory stays bounded: past MAX_QUEUE_SIZE items in flight per signal,
new exports are refused with a retryable "queue full".
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from llm_observatory.collector import metrics
from llm_observatory.collector.cost import CostCalculator
from llm_observatory.collector.genai import extract_llm_fields
from llm_observatory.collector.pii import redact_log, redact_span
from llm_observatory.core import tracing
from llm_observatory.core.batching import BATCH_CONTEXTS, BatchFailed, BatchQueue
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import LogRecordRow, SpanRecord
from llm_observatory.core.rows import TABLE_SPECS
from llm_observatory.core.settings import CollectorSettings

log = get_logger(__name__)

SIGNALS = ("traces", "metrics", "logs")


class StorageUnavailable(BatchFailed):
    """Storage did not commit the batch (HTTP 503 / UNAVAILABLE)."""


class Enricher:
    """LLM fields, cost, sampling and PII redaction, applied before anything is queued."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.pii = settings.enable_pii_detection
        self.sampling = settings.enable_sampling and settings.sampling_rate < 1.0
        self._threshold = int(settings.sampling_rate * (1 << 64))
        self.cost: CostCalculator | None = None
        if settings.enable_cost_calculation:
            self.cost = CostCalculator(settings.cost_price_file or None)
            self.cost.on_miss = _count_cost_miss

    def sampled(self, spans: list[SpanRecord]) -> list[SpanRecord]:
        """Keep whole traces: the decision depends on the trace id only."""
        if not self.sampling:
            return spans
        threshold = self._threshold
        return [s for s in spans if int(s.trace_id[16:], 16) < threshold]

    def spans(self, spans: list[SpanRecord]) -> None:
        providers: Tally[str] = Tally()
        pii_kinds: Tally[str] = Tally()
        cost = self.cost
        for span in spans:
            extract_llm_fields(span)
            if span.is_llm:
                providers[span.provider or "unknown"] += 1
                if cost is not None:
                    span.cost_usd = cost.cost(span)
            if self.pii:
                redact_span(span)
                pii_kinds.update(span.pii_types)
        for provider, count in providers.items():
            metrics.LLM_SPANS.labels(provider).inc(count)
        for kind, count in pii_kinds.items():
            metrics.PII_DETECTIONS.labels(kind).inc(count)

    def logs(self, rows: list[LogRecordRow]) -> None:
        if not self.pii:
            return
        pii_kinds: Tally[str] = Tally()
        for row in rows:
            redact_log(row)
            pii_kinds.update(row.pii_types)
        for kind, count in pii_kinds.items():
            metrics.PII_DETECTIONS.labels(kind).inc(count)


def _count_cost_miss(provider: str | None, model: str | None) -> None:
    metrics.COST_MISSES.labels(provider or "unknown").inc()
    log.debug("no price for model", provider=provider, model=model)


class StorageClient:
    """The storage service's ingest API: POST /v1/ingest/{signal} with rows as JSON.

    The body is {"columns": [...], "rows": [[...], ...]}, rows built by the table's
    spec (core.rows), so storage writes them without converting anything again.
    """

    def __init__(self, base_url: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def ingest(
        self, signal: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> int:
        body = orjson.dumps({"columns": columns, "rows": rows})
        headers = {"content-type": "application/json"}
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
        return int(response.json().get("accepted", 0))

    async def health(self) -> None:
        response = await self._client.get("/health", timeout=2.0)
        response.raise_for_status()

    async def close(self) -> None:
        await self._client.aclose()


class Forwarder:
    """One group-commit queue per signal, each forwarding batches to storage."""

    def __init__(self, settings: CollectorSettings, storage: StorageClient) -> None:
        self.storage = storage
        self.queues = {
            signal: BatchQueue(
                f"forward-{signal}",
                self._handler(signal),
                batch_size=settings.batch_size,
                linger=settings.flush_interval,
                max_items=settings.max_queue_size,
                workers=settings.worker_threads,
                timeout=settings.storage_timeout * 2,
                on_depth=self._depth_changed,
                on_batch=self._batch_done(signal),
                on_failure=lambda size, error, signal=signal: metrics.FORWARD_FAILURES.labels(
                    signal
                ).inc(),
                capture=tracing.current_context if tracing.enabled() else None,
            )
            for signal in SIGNALS
        }
        metrics.QUEUE_CAPACITY.set(settings.max_queue_size)

    def _handler(self, signal: str):  # type: ignore[no-untyped-def]
        spec = TABLE_SPECS[signal]
        build_row = spec.row_builder()
        columns = spec.column_names

        async def forward(records: list[Any]) -> None:
            tracer = tracing.tracer()
            if tracer is None:
                await self.storage.ingest(signal, columns, [build_row(r) for r in records])
                return
            with tracer.start_as_current_span(
                f"forward {signal}",
                kind=tracing.SpanKind.CLIENT,
                attributes={"llmo.signal": signal, "llmo.batch.items": len(records)},
                record_exception=False,
                **tracing.batch_span_args(BATCH_CONTEXTS.get()),
            ) as span:
                try:
                    await self.storage.ingest(signal, columns, [build_row(r) for r in records])
                except Exception as exc:
                    tracing.record_error(span, exc)
                    raise

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

    async def submit(self, signal: str, records: list[Any]) -> None:
        """Return once storage has committed `records`; raise Backpressure otherwise."""
        await self.queues[signal].submit(records)
