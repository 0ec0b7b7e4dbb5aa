"""One export through the pipeline (collector/pipeline.py): failures stay with the record
that caused them, decoding leaves the event loop free, metric labels stay bounded."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from llm_observatory.collector import metrics
from llm_observatory.collector.processors.pii import KINDS
from llm_observatory.core.signals import SIGNALS
from tests.support.collector_harness import PROTOBUF, collector_settings, running_collector
from tests.support.otlp_builders import (
    key_values,
    log_record,
    logs_request,
    make_llm_span_request,
    simple_span,
    span_request,
)

TRACES = SIGNALS["traces"]


def _spans(*names: str):
    return span_request(
        *(simple_span(name, span_id=(i + 1).to_bytes(8, "big")) for i, name in enumerate(names))
    )


async def _export(pipeline, request, signal=TRACES):
    return await pipeline.export(
        signal, request.SerializeToString(), media_type=PROTOBUF, protocol="http"
    )


# --- failures stay with their record -----------------------------------------------------


def _poison_step(record) -> None:
    if getattr(record, "name", None) == "poison" or getattr(record, "body", None) == "poison":
        raise RecursionError("maximum recursion depth exceeded")


@pytest.mark.parametrize("signal", ["traces", "logs"])
async def test_a_record_whose_processing_raises_is_refused_alone(signal):
    async with running_collector() as (pipeline, storage):
        pipeline.processors.chains[signal].insert(0, _poison_step)
        if signal == "traces":
            request = _spans("before", "poison", "after")
        else:
            request = logs_request(log_record("before"), log_record("poison"), log_record("after"))
        rejected = await _export(pipeline, request, SIGNALS[signal])
    assert rejected.count == 1
    assert "rejected: cannot be processed" in rejected.message
    kept = [row["name" if signal == "traces" else "body"] for row in storage.rows[signal]]
    assert kept == (["before", "after"] if signal == "traces" else ['"before"', '"after"'])


async def test_a_record_whose_row_encoding_raises_is_refused_alone():
    async with running_collector() as (pipeline, storage):
        encode = pipeline.encoders["traces"]

        def fragile(record):
            if record.name == "poison":
                raise ValueError("time 1e30 ns is outside years 1-9999")
            return encode(record)

        pipeline.encoders["traces"] = fragile
        # storage refuses the row after the hole: its refusal must name that record
        storage.refuse = lambda row: "bad value" if row["name"] == "after" else None
        rejected = await _export(pipeline, _spans("before", "poison", "after", "last"))
    assert rejected.count == 2
    first, second = rejected.messages
    assert first.startswith("span 'poison'")
    assert "cannot be stored (time 1e30 ns is outside years 1-9999)" in first
    assert second.startswith("span 'after'") and "rejected by storage: bad value" in second
    assert [row["name"] for row in storage.rows["traces"]] == ["before", "last"]


async def test_storage_refusals_go_back_to_the_export_that_sent_the_row():
    # Three concurrent exports share one storage batch; storage refuses one row of the
    # second: only that export hears of it, with the record's description.
    async with running_collector() as (pipeline, storage):
        storage.refuse = lambda row: "index row too large" if row["name"] == "b-bad" else None
        storage.gate.clear()
        exports = [
            asyncio.create_task(_export(pipeline, _spans(f"{tag}-1", f"{tag}-bad", f"{tag}-2")))
            if tag == "b"
            else asyncio.create_task(_export(pipeline, _spans(f"{tag}-1", f"{tag}-2")))
            for tag in "abc"
        ]
        while pipeline.exporter.queued < 7:
            await asyncio.sleep(0.005)
        storage.gate.set()
        a, b, c = await asyncio.gather(*exports)
    assert storage.batches == [7]  # one batch for the three
    assert (a.count, c.count) == (0, 0)
    assert b.count == 1
    assert b.message.startswith("span 'b-bad' (")
    assert "rejected by storage: index row too large" in b.message
    names = sorted(row["name"] for row in storage.rows["traces"])
    assert names == ["a-1", "a-2", "b-1", "b-2", "c-1", "c-2"]


async def test_deep_messages_do_not_fail_their_neighbours():
    # The poison of old: JSON nested 300 levels in gen_ai.input.messages.
    deep = "[" * 300 + "]" * 300
    poison = simple_span("deep", span_id=b"\x00" * 7 + b"\x09")
    poison.attributes.extend(
        key_values({"gen_ai.request.model": "gpt-4o", "gen_ai.input.messages": deep})
    )
    request = _spans("before", "after")
    request.resource_spans[0].scope_spans[0].spans.append(poison)
    async with running_collector(collector_settings(enable_pii_detection=True)) as (
        pipeline,
        storage,
    ):
        rejected = await _export(pipeline, request)
    assert rejected.count == 0
    assert sorted(row["name"] for row in storage.rows["traces"]) == ["after", "before", "deep"]


# --- the event loop stays free -----------------------------------------------------------


async def test_a_big_request_is_decoded_off_the_event_loop():
    body = make_llm_span_request(8000).SerializeToString()
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    settings = collector_settings(enable_pii_detection=True, enable_cost_calculation=True)
    async with running_collector(settings) as (pipeline, storage):
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        rejected = await pipeline.export(TRACES, body, media_type=PROTOBUF, protocol="http")
        took = time.perf_counter() - started
        stop.set()
        await ticking
    assert rejected.count == 0 and len(storage.rows["traces"]) == 8000
    # Decoding inline would stop the ticker for the whole export (about a second or
    # more); off the loop it keeps ticking, slowed only by the GIL.
    assert took > 0.3, "the request is too small to tell"
    assert max(gaps) < took / 2, (max(gaps), took)
    assert len(gaps) >= 10


# --- bounded metric labels ---------------------------------------------------------------


def _samples(name: str) -> list:
    return [s for m in REGISTRY.collect() if m.name == name for s in m.samples]


def _value(name: str, provider: str) -> float:
    return sum(
        s.value
        for s in _samples(name)
        if s.name.endswith("_total") and s.labels.get("provider") == provider
    )


async def test_distinct_providers_create_no_new_series():
    n = 5000
    spans = []
    for i in range(n):
        span = simple_span(f"chat {i}", span_id=(i + 1).to_bytes(8, "big"))
        span.attributes.extend(
            key_values(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": f"provider-{i}",
                    "gen_ai.request.model": f"model-{i}",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 5,
                }
            )
        )
        spans.append(span)
    metrics.initialise(KINDS)
    before = {
        name: len(_samples(name))
        for name in ("llmo_collector_llm_spans", "llmo_collector_cost_misses")
    }
    other_before = _value("llmo_collector_llm_spans", "other")
    misses_before = _value("llmo_collector_cost_misses", "other")
    settings = collector_settings(enable_cost_calculation=True)
    async with running_collector(settings) as (pipeline, storage):
        rejected = await _export(pipeline, span_request(*spans))
    assert rejected.count == 0
    assert len({row["provider"] for row in storage.rows["traces"]}) == n  # stored as sent
    after = {name: len(_samples(name)) for name in before}
    assert after == before
    assert _value("llmo_collector_llm_spans", "other") - other_before == n
    assert _value("llmo_collector_cost_misses", "other") - misses_before == n
