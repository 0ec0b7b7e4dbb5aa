"""Micro-benchmark: what self-tracing costs the collector's hot path.

Runs the collector's export path in process (decode -> process -> encode -> queue ->
batched forward) against a storage stand-in that answers at once, with tracing off
and on.
"On" is the real set-up (BatchSpanProcessor, traceparent on every forward) with an
exporter that drops the spans, so the figure is the cost inside the collector, not
Jaeger's. Not the end-to-end ingest benchmark (tests/performance/ingest_benchmark.py).

    .venv/bin/python -m tests.performance.tracing_overhead --exports 2000 --spans 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_observatory.core import tracing
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.signals import TRACES
from tests.support.collector_harness import PROTOBUF, running_collector
from tests.support.otlp_builders import make_llm_span_request


class DropExporter(SpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.SUCCESS


class InstantStorage:
    """Answers like a storage that commits instantly; adds the traceparent like the real one."""

    async def ingest(self, signal, rows):  # type: ignore[no-untyped-def]
        headers = {"content-type": "text/tab-separated-values"}
        if tracing.enabled():
            tracing.inject(headers)
        return []


async def run(exports: int, spans: int, concurrency: int) -> list[float]:
    bodies = [make_llm_span_request(spans, seed=i).SerializeToString() for i in range(16)]
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with running_collector(CollectorSettings(), InstantStorage()) as (pipeline, _):

        async def one(index: int) -> None:
            async with semaphore:
                started = time.perf_counter()
                body = bodies[index % len(bodies)]
                await pipeline.export(TRACES, body, media_type=PROTOBUF, protocol="http")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(i) for i in range(exports)))
    return latencies


def measure(label: str, exports: int, spans: int, concurrency: int) -> float:
    started = time.perf_counter()
    latencies = asyncio.run(run(exports, spans, concurrency))
    elapsed = time.perf_counter() - started
    rate = exports * spans / elapsed
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{label:12s} {exports} exports x {spans} spans, concurrency {concurrency}: "
        f"{rate:,.0f} spans/s, export p50 {q[49] * 1e3:.2f} ms, p95 {q[94] * 1e3:.2f} ms"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=2000)
    parser.add_argument("--spans", type=int, default=100, help="spans per export request")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on rounds")
    args = parser.parse_args()
    off, on = [], []
    for _ in range(args.rounds):
        off.append(measure("tracing off", args.exports, args.spans, args.concurrency))
        tracing.setup_tracing("collector", "http://jaeger:4317", exporter=DropExporter())
        on.append(measure("tracing on", args.exports, args.spans, args.concurrency))
        tracing.shutdown()
    best_off, best_on = max(off), max(on)
    print(
        f"best of {args.rounds}: off {best_off:,.0f} spans/s, on {best_on:,.0f} spans/s, "
        f"overhead {(1 - best_on / best_off) * 100:.1f}%"
    )


if __name__ == "__main__":
    main()
