"""Table writers against a real TimescaleDB: exact values, NULs, idempotency.

Needs LLMO_TEST_DATABASE_URL or the test stack (see conftest.py). Writes go through the
app role, as in production. Rows the database refuses: test_writer_refusals.py.
Throughput: tests/performance/writer_benchmark.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.rows import SPANS, dump_json
from llm_observatory.core.signals import LOGS, METRICS, TRACES, Signal
from llm_observatory.storage.writer import TableWriter
from tests.support.span_records import realistic_spans

T0 = 1_700_000_000_123_456_789  # 2023-11-14 22:13:20.123456789 UTC
T0_DT = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)


def run_write(url: str, signal: Signal, *batches: list) -> list[int]:
    """Write each batch of records with the signal's writer; the rows each inserted."""

    async def main() -> list[int]:
        async with AsyncConnectionPool(url, min_size=1, max_size=2, open=False) as pool:
            writer = TableWriter(pool, signal)
            return [await writer.write(batch) for batch in batches]

    return asyncio.run(main())


def trace_id(tag: str, n: int) -> str:
    return (tag.encode().hex() + f"{n:x}").rjust(32, "0")[-32:]


# --- spans: exact values -------------------------------------------------------------------


def sample_spans(tag: str) -> tuple[list[SpanRecord], list[dict[str, Any]]]:
    """Spans and the exact rows expected back (computed by hand, not by the writer)."""
    rich = SpanRecord(
        trace_id=trace_id(tag, 1),
        span_id="00f067aa0ba902b7",
        parent_span_id="53995c3f42cd8ad8",
        name="chat gpt-4o",
        kind="client",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1_234_567_891,
        status_code="error",
        status_message="rate\x00 limited",
        service_name="chat-api",
        scope_name="opentelemetry.instrumentation.openai_v2",
        attributes={
            "gen_ai.system": "openai",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 512,
            "nested": {"k\x00ey": ["a\x00b", 1, True, None]},
            "literal": "C:\\u0000dir",  # backslash-u0000 as text, not a NUL
            "big": 2**70,
            "tab": "a\tb\nc\\d\r",
            "uni": "snow ☃ 😀",
        },
        resource_attributes={"service.name": "chat-api", "host.name": "h1"},
        events=[{"name": "gen_ai.choice", "time_unix_nano": T0 + 5, "attributes": {"i": 0}}],
        links=[{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}],
        is_llm=True,
        provider="openai",
        operation="chat",
        request_model="gpt-4o",
        response_model="gpt-4o-2024-08-06",
        model="gpt-4o-2024-08-06",
        input_tokens=1200,
        output_tokens=345,
        total_tokens=1545,
        cache_read_tokens=1024,
        cache_creation_tokens=0,
        reasoning_tokens=None,
        cost_usd=0.00645,
        reported_cost_usd=0.0065,
        conversation_id="conv-1",
        user_id="user-\x00x",
        input_messages=[{"role": "user", "content": "hi \x00there"}],
        output_messages="plain text answer",
        pii_types=["email", "pho\x00ne"],
    )
    rich_row = {
        "start_time": T0_DT,
        "end_time": datetime(2023, 11, 14, 22, 13, 21, 358024, tzinfo=UTC),
        "duration_ms": 1234.567891,
        "trace_id": rich.trace_id,
        "span_id": "00f067aa0ba902b7",
        "parent_span_id": "53995c3f42cd8ad8",
        "service_name": "chat-api",
        "name": "chat gpt-4o",
        "kind": "client",
        "status_code": "error",
        "status_message": "rate limited",
        "scope_name": "opentelemetry.instrumentation.openai_v2",
        "is_llm": True,
        "provider": "openai",
        "operation": "chat",
        "request_model": "gpt-4o",
        "response_model": "gpt-4o-2024-08-06",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 1200,
        "output_tokens": 345,
        "total_tokens": 1545,
        "cache_read_tokens": 1024,
        "cache_creation_tokens": 0,
        "reasoning_tokens": None,
        "cost_usd": Decimal("0.006450000"),
        "reported_cost_usd": Decimal("0.006500000"),
        "conversation_id": "conv-1",
        "user_id": "user-x",
        "input_messages": [{"role": "user", "content": "hi there"}],
        "output_messages": "plain text answer",
        "pii_types": ["email", "phone"],
        "attributes": {
            "gen_ai.system": "openai",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 512,
            "nested": {"key": ["ab", 1, True, None]},
            "literal": "C:\\u0000dir",
            "big": str(2**70),
            "tab": "a\tb\nc\\d\r",
            "uni": "snow ☃ 😀",
        },
        "resource_attributes": {"service.name": "chat-api", "host.name": "h1"},
        "events": [{"name": "gen_ai.choice", "time_unix_nano": T0 + 5, "attributes": {"i": 0}}],
        "links": [{"trace_id": "ab" * 16, "span_id": "cd" * 8, "attributes": {}}],
    }
    minimal = SpanRecord(
        trace_id=trace_id(tag, 2),
        span_id="0000000000000001",
        parent_span_id=None,
        name="GET /health",
        kind="server",
        start_time_unix_nano=T0,
        end_time_unix_nano=T0,
    )
    minimal_row = {
        "start_time": T0_DT,
        "end_time": T0_DT,
        "duration_ms": 0.0,
        "trace_id": minimal.trace_id,
        "span_id": "0000000000000001",
        "parent_span_id": None,
        "service_name": "unknown_service",
        "name": "GET /health",
        "kind": "server",
        "status_code": "unset",
        "is_llm": False,
        "pii_types": [],
        "attributes": {},
        "resource_attributes": {},
        "events": [],
        "links": [],
        **dict.fromkeys(
            [
                "status_message",
                "scope_name",
                "provider",
                "operation",
                "request_model",
                "response_model",
                "model",
                "input_tokens",
                "output_tokens",
                "total_tokens",
                "cache_read_tokens",
                "cache_creation_tokens",
                "reasoning_tokens",
                "cost_usd",
                "reported_cost_usd",
                "conversation_id",
                "user_id",
                "input_messages",
                "output_messages",
                "ingest_key",
            ]
        ),
    }
    # Values PostgreSQL would reject become NULL instead of failing the batch.
    odd = SpanRecord(
        trace_id=trace_id(tag, 3),
        span_id="0000000000000002",
        parent_span_id="0000000000000001",
        name="embed",
        kind="client",
        start_time_unix_nano=T0 + 2_000_000_000,
        end_time_unix_nano=T0 + 1_000_000_000,  # ends before it starts
        is_llm=True,
        input_tokens=2**64,
        cost_usd=float("nan"),
        reported_cost_usd=1e12,
        input_messages={"text": "\x00"},
        attributes={"\x00": "only a nul key"},
    )
    odd_row = {
        **minimal_row,
        "start_time": T0_DT + timedelta(seconds=2),
        "end_time": T0_DT + timedelta(seconds=1),
        "trace_id": odd.trace_id,
        "span_id": "0000000000000002",
        "parent_span_id": "0000000000000001",
        "name": "embed",
        "kind": "client",
        "is_llm": True,
        "input_messages": {"text": ""},
        "attributes": {"": "only a nul key"},
    }
    return [rich, minimal, odd], [rich_row, minimal_row, odd_row]


def test_spans_exact_values(app_url: str, migrated_url: str, fetch: Callable) -> None:
    records, expected = sample_spans("exact")
    records[0].ingest_key = "ci"
    expected[0]["ingest_key"] = "ci"
    assert run_write(app_url, TRACES, records) == [3]
    rows = fetch(
        migrated_url,
        "SELECT * FROM spans WHERE trace_id = ANY(%s) ORDER BY trace_id",
        ([r.trace_id for r in records],),
    )
    assert len(rows) == 3
    for row, want in zip(rows, expected, strict=True):
        ingested_at = row.pop("ingested_at")
        assert abs(datetime.now(UTC) - ingested_at) < timedelta(minutes=5)
        assert set(row) == set(want)
        for column in SPANS.column_names:
            assert row[column] == want[column], (want["trace_id"], column)


def test_duplicates_are_ignored(app_url: str, migrated_url: str, fetch: Callable) -> None:
    records, _ = sample_spans("dup")
    first, second = records[:2], records
    results = run_write(app_url, TRACES, first, first, second, [records[2]] * 3)
    # first batch: 2 new; retry: 0; overlapping batch: only the 3rd is new; in-batch dupes: 0
    assert results == [2, 0, 1, 0]
    count = fetch(
        migrated_url,
        "SELECT count(*) AS n FROM spans WHERE trace_id = ANY(%s)",
        ([r.trace_id for r in records],),
    )[0]["n"]
    assert count == 3


def test_in_batch_duplicates_are_inserted_once(app_url: str) -> None:
    records, _ = sample_spans("inbatch")
    assert run_write(app_url, TRACES, [records[0], records[0]]) == [1]


def test_empty_batch(app_url: str) -> None:
    assert run_write(app_url, TRACES, []) == [0]


# --- metric points and log records ---------------------------------------------------------


def test_metric_points_exact_values(app_url: str, migrated_url: str, fetch: Callable) -> None:
    name = "gen_ai.client.token.usage"
    histogram = MetricPointRecord(
        metric_name=name,
        metric_type="histogram",
        time_unix_nano=T0,
        start_time_unix_nano=T0 - 60_000_000_000,
        service_name="chat-api",
        scope_name="openai",
        unit="{token}",
        description="Measures number of input and output tokens used",
        count=3,
        sum=1545.0,
        min=10.0,
        max=1200.0,
        buckets={"bounds": [1, 4, 16], "counts": [0, 0, 1, 2]},
        is_monotonic=None,
        aggregation_temporality="delta",
        attributes={"gen_ai.token.type": "input\x00"},
        resource_attributes={"service.name": "chat-api"},
    )
    gauge = MetricPointRecord(
        metric_name=name, metric_type="gauge", time_unix_nano=T0 + 1000, value=-0.5
    )
    assert run_write(app_url, METRICS, [histogram, gauge]) == [2]
    rows = fetch(
        migrated_url,
        "SELECT * FROM metric_points WHERE metric_name = %s ORDER BY time, metric_type DESC",
        (name,),
    )
    assert rows[0] == {
        "time": T0_DT,
        "start_time": T0_DT - timedelta(seconds=60),
        "metric_name": name,
        "metric_type": "histogram",
        "service_name": "chat-api",
        "scope_name": "openai",
        "unit": "{token}",
        "description": "Measures number of input and output tokens used",
        "value": None,
        "count": 3,
        "sum": 1545.0,
        "min": 10.0,
        "max": 1200.0,
        "buckets": {"bounds": [1, 4, 16], "counts": [0, 0, 1, 2]},
        "is_monotonic": None,
        "aggregation_temporality": "delta",
        "attributes": {"gen_ai.token.type": "input"},
        "resource_attributes": {"service.name": "chat-api"},
        "ingest_key": None,
    }
    assert rows[1]["value"] == -0.5 and rows[1]["service_name"] == "unknown_service"
    assert rows[1]["time"] == T0_DT + timedelta(microseconds=1)
    assert rows[1]["attributes"] == {} and rows[1]["buckets"] is None
    assert len(rows) == 2


def test_log_records_exact_values(app_url: str, migrated_url: str, fetch: Callable) -> None:
    service = "logs-exact"
    event = LogRecordRow(
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 1_000,
        service_name=service,
        scope_name="gen_ai",
        severity_number=9,
        severity_text="INFO",
        body={"content": "hello \x00world", "role": "user"},
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        event_name="gen_ai.user.message",
        attributes={"gen_ai.system": "openai"},
        resource_attributes={"service.name": service},
        pii_types=["person"],
        ingest_key="laptop",
    )
    plain = LogRecordRow(time_unix_nano=T0, service_name=service, body="line\x00 one\n")
    assert run_write(app_url, LOGS, [event, plain]) == [2]
    rows = fetch(
        migrated_url,
        "SELECT * FROM log_records WHERE service_name = %s ORDER BY trace_id NULLS LAST",
        (service,),
    )
    assert rows == [
        {
            "time": T0_DT,
            "observed_time": T0_DT + timedelta(microseconds=1),
            "service_name": service,
            "scope_name": "gen_ai",
            "severity_number": 9,
            "severity_text": "INFO",
            "body": {"content": "hello world", "role": "user"},
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "event_name": "gen_ai.user.message",
            "attributes": {"gen_ai.system": "openai"},
            "resource_attributes": {"service.name": service},
            "pii_types": ["person"],
            "ingest_key": "laptop",
        },
        {
            "time": T0_DT,
            "observed_time": None,
            "service_name": service,
            "scope_name": None,
            "severity_number": None,
            "severity_text": None,
            "body": "line one\n",
            "trace_id": None,
            "span_id": None,
            "event_name": None,
            "attributes": {},
            "resource_attributes": {},
            "pii_types": [],
            "ingest_key": None,
        },
    ]


# --- JSON sanitising (no database) ---------------------------------------------------------


def test_dump_json_strips_nul_escapes_only() -> None:
    assert dump_json({"a": "x\x00y"}) == '{"a":"xy"}'
    assert dump_json("\\u0000") == '"\\\\u0000"'  # the six characters stay
    assert dump_json("\\\x00") == '"\\\\"'  # backslash + NUL -> backslash
    assert dump_json({1: b"\x00\x01"}) == '{"1":"AAE="}'
    assert dump_json([2**70, {"k": 2**65}]) == f'["{2**70}",{{"k":"{2**65}"}}]'
    assert dump_json(float("nan")) == "null"


# --- realistic load ------------------------------------------------------------------------


def test_realistic_batches(app_url: str, migrated_url: str, fetch: Callable) -> None:
    spans = realistic_spans(2000, seed=11)
    assert run_write(app_url, TRACES, spans[:1500], spans[500:]) == [1500, 500]
    ids = [s.trace_id for s in spans]
    n = fetch(migrated_url, "SELECT count(*) AS n FROM spans WHERE trace_id = ANY(%s)", (ids,))
    assert n[0]["n"] == 2000
