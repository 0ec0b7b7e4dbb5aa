"""One export request through the collector: receive -> decode -> process -> export.

The receivers (HTTP, gRPC) hand over the raw body. Decoding, the processors and the
row encoding run in a small pool of threads, so a large request never holds the event
loop (health checks and other exports keep being answered while it decodes): the loop
only admits requests, waits for their rows to be committed and answers.

Failures stay with the record that caused them: a record that cannot be decoded,
processed or encoded is refused alone, and so is a row storage cannot write; each
becomes part of the export's OTLP partial success, never an error for the export or
for anyone else's. A request over a whole-request limit gets a 4xx; only storage
being unavailable, a full queue or too many requests at once give a retryable answer.
"""

from __future__ import annotations

import asyncio
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llm_observatory.collector import decode, metrics
from llm_observatory.collector.exporter import Exporter
from llm_observatory.collector.limits import Limits
from llm_observatory.collector.processors import Processors, describe
from llm_observatory.collector.usage import UsageMetrics
from llm_observatory.core import tracing
from llm_observatory.core.batching import Backpressure, QueueFull
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import Rejection
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.signals import SIGNALS, Signal

log = get_logger(__name__)

# Threads that decode per worker process. Decoding is Python and holds the GIL, so more
# would not add throughput; two let a small export pass a large one.
DECODE_THREADS = 2


class Busy(Backpressure):
    """More requests in this process than MAX_CONCURRENT_REQUESTS (429 / RESOURCE_EXHAUSTED)."""


@dataclass(slots=True)
class Prepared:
    records: list[Any]  # kept records, in row order
    rows: list[str]
    rejected: Rejection
    received: int


def inflate(body: bytes, limit: int) -> bytes:
    """gunzip with a limit on the output, so a small gzip bomb cannot take the memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise decode.DecodeError(f"body is not valid gzip: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise decode.TooLarge(
            f"request body larger than {limit} bytes once decompressed (MAX_REQUEST_BYTES); "
            "send smaller batches"
        )
    if not inflater.eof:
        raise decode.DecodeError("body is not valid gzip: truncated stream")
    return data


class Pipeline:
    def __init__(self, settings: CollectorSettings, exporter: Exporter) -> None:
        self.limits = Limits.from_settings(settings)
        self.processors = Processors(settings, self.limits)
        self.exporter = exporter
        self.encoders = {name: signal.table.row_encoder() for name, signal in SIGNALS.items()}
        self.usage = UsageMetrics()
        self.max_requests = settings.max_concurrent_requests
        self.in_flight = 0
        self._threads = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")

    def admit(self) -> None:
        """Count a request in, or raise Busy; pair with `release()`."""
        if self.in_flight >= self.max_requests:
            raise Busy(
                f"{self.in_flight} requests in progress in this collector process "
                f"(MAX_CONCURRENT_REQUESTS={self.max_requests}); retry shortly"
            )
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    async def wait_idle(self, seconds: float) -> None:
        """Wait (at most `seconds`) until no admitted request is left: a stop drains."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.in_flight and loop.time() < deadline:
            await asyncio.sleep(0.05)

    async def export(
        self,
        signal: Signal,
        body: bytes,
        *,
        media_type: str,
        protocol: str,
        gzip: bool = False,
        ingest_key: str | None = None,
    ) -> Rejection:
        """Decode, process and store one admitted request; its partial-success refusals.

        Raises decode.DecodeError / decode.TooLarge (not retryable) or Backpressure.
        """
        # No traceparent from the sender: its exporter's context is not ours to join.
        with tracing.span(
            f"export {signal.name}",
            kind=tracing.SpanKind.SERVER,
            attributes={"llmo.signal": signal.name, "llmo.protocol": protocol},
        ):
            return await self._export(signal, body, media_type, protocol, gzip, ingest_key)

    async def _export(
        self,
        signal: Signal,
        body: bytes,
        media_type: str,
        protocol: str,
        gzip: bool,
        ingest_key: str | None,
    ) -> Rejection:
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(
            self._threads, self.prepare, signal, body, media_type, gzip, ingest_key
        )
        name = signal.name
        metrics.ITEMS_RECEIVED.labels(name, protocol).inc(prepared.received)
        if prepared.rejected.count:
            metrics.ITEMS_REJECTED.labels(name, protocol, "invalid").inc(prepared.rejected.count)
        try:
            refused = await self.exporter.submit(name, prepared.rows)
        except Backpressure as exc:
            reason = "queue_full" if isinstance(exc, QueueFull) else "storage_unavailable"
            metrics.ITEMS_REJECTED.labels(name, protocol, reason).inc(len(prepared.rows))
            raise
        for position, reason in refused:
            record = prepared.records[position]
            prepared.rejected.add(f"{describe(signal, record)} rejected by storage: {reason}")
        if refused:
            metrics.ITEMS_REJECTED.labels(name, protocol, "storage_rejected").inc(len(refused))
        if name == "traces":
            skipped = {position for position, _ in refused}
            self.usage.record(r for i, r in enumerate(prepared.records) if i not in skipped)
        metrics.ITEMS_ACCEPTED.labels(name, protocol).inc(len(prepared.rows) - len(refused))
        return prepared.rejected

    def prepare(
        self, signal: Signal, body: bytes, media_type: str, gzip: bool, ingest_key: str | None
    ) -> Prepared:
        """Body -> encoded rows (in a decode thread). Raises decode.DecodeError/TooLarge."""
        limits = self.limits
        if gzip:
            body = inflate(body, limits.max_request_bytes)
        request = decode.parse(signal, body, media_type, limits)
        del body
        rejected = Rejection()
        records = decode.records(signal, request, limits, rejected)
        del request
        received = len(records) + rejected.count
        records = self.processors.run(signal, records, rejected, ingest_key)
        encode = self.encoders[signal.name]
        rows: list[str] = []
        kept: list[Any] = []
        for record in records:
            try:
                rows.append(encode(record))
            except Exception as exc:
                rejected.add(f"{describe(signal, record)} rejected: cannot be stored ({exc})"[:300])
                continue
            kept.append(record)
        return Prepared(kept, rows, rejected, received)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
