"""The query API against the running test stack, over data this module seeds.

The data goes in through storage's own writer (SpanWriter, as the owner) under names
no other test uses: services, models and providers carry a random tag, so every
assertion can be exact even though other tests write to the same database. Usage
has no service filter, so its assertions look only at rows keyed by the tag.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.auth import mint_token
from llm_observatory.api.schemas import Span
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.settings import ApiSettings
from llm_observatory.storage.writer import SpanWriter
from tests.support.latency import at_rank, close_enough

pytestmark = [pytest.mark.docker, pytest.mark.stack]

TAG = uuid.uuid4().hex[:8]
SERVICE_A = f"apitest-a-{TAG}"
SERVICE_B = f"apitest-b-{TAG}"
MODEL_1, PROVIDER_1 = f"gpt-apitest-{TAG}", f"openai-{TAG}"
MODEL_2, PROVIDER_2 = f"claude-apitest-{TAG}", f"anthropic-{TAG}"
TRACES_A = 30
TRACES_B = 5

# Two hours starting at a whole hour, ending at least an hour ago: inside the default
# 24 h usage window, and in the past.
BASE = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def to_datetime(nanoseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=nanoseconds // 1000)


@dataclass
class Seeded:
    spans: list[SpanRecord]
    traces: dict[str, list[SpanRecord]]  # trace_id -> spans
    roots: dict[str, SpanRecord]


def build_seed() -> Seeded:
    spans: list[SpanRecord] = []
    for i in range(TRACES_A + TRACES_B):
        service = SERVICE_A if i < TRACES_A else SERVICE_B
        trace_id = uuid.uuid4().hex
        # Traces 10 and 11 start at the same microsecond: the cursor's tie-break
        # (trace_id) must neither skip nor repeat one of them.
        start = BASE + timedelta(minutes=3 * (10 if i == 11 else i), milliseconds=7)
        root_id = uuid.uuid4().hex[:16]
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=root_id,
                parent_span_id=None,
                name=f"agent run {i}",
                kind="server",
                start_time_unix_nano=ns(start),
                end_time_unix_nano=ns(start + timedelta(milliseconds=1500 + i)),
                status_code="ok",
                service_name=service,
                attributes={"http.route": "/chat", "run": i},
            )
        )
        model, provider = (MODEL_1, PROVIDER_1) if i % 2 == 0 else (MODEL_2, PROVIDER_2)
        llm_start = start + timedelta(milliseconds=20)
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=uuid.uuid4().hex[:16],
                parent_span_id=root_id,
                name=f"chat {model}",
                kind="client",
                start_time_unix_nano=ns(llm_start),
                end_time_unix_nano=ns(llm_start + timedelta(milliseconds=100 + 10 * i)),
                status_code="unset",
                service_name=service,
                is_llm=True,
                provider=provider,
                operation="chat",
                model=model,
                request_model=model,
                input_tokens=100 + i,
                output_tokens=10 + i,
                total_tokens=110 + 2 * i,
                cost_usd=round(0.001 * (i + 1), 9),
                pii_types=["email"] if i == 3 else [],
                events=[
                    {"name": "gen_ai.choice", "time_unix_nano": ns(llm_start), "attributes": {}}
                ],
                attributes={"gen_ai.request.model": model},
            )
        )
        tool_start = start + timedelta(milliseconds=400)
        spans.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=uuid.uuid4().hex[:16],
                parent_span_id=root_id,
                name="tool search",
                kind="internal",
                start_time_unix_nano=ns(tool_start),
                end_time_unix_nano=ns(tool_start + timedelta(milliseconds=30)),
                service_name=service,
            )
        )
        if i % 5 == 0:  # a failed retry: an LLM error on the other model
            retry_start = start + timedelta(milliseconds=600)
            spans.append(
                SpanRecord(
                    trace_id=trace_id,
                    span_id=uuid.uuid4().hex[:16],
                    parent_span_id=root_id,
                    name=f"chat {MODEL_2}",
                    kind="client",
                    start_time_unix_nano=ns(retry_start),
                    end_time_unix_nano=ns(retry_start + timedelta(milliseconds=50)),
                    status_code="error",
                    status_message="rate limited",
                    service_name=service,
                    is_llm=True,
                    provider=PROVIDER_2,
                    operation="chat",
                    model=MODEL_2,
                    input_tokens=100,
                    output_tokens=0,
                    cost_usd=0.0,
                )
            )
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in spans:
        traces[span.trace_id].append(span)
    roots = {s.trace_id: s for s in spans if s.parent_span_id is None}
    return Seeded(spans, dict(traces), roots)


async def _write(url: str, spans: list[SpanRecord]) -> int:
    async with AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as pool:
        return await SpanWriter(pool).write(spans)


@pytest.fixture(scope="module")
def seeded(stack) -> Seeded:
    data = build_seed()
    assert asyncio.run(_write(stack.database_url(), data.spans)) == len(data.spans)
    return data


@pytest.fixture(scope="module")
def settings() -> ApiSettings:
    # The secret the stack runs with: compose and this process read the same env/.env.
    return ApiSettings()


# Per test: a restarted container gets a new ephemeral host port.
@pytest.fixture
def api(stack, settings) -> httpx.Client:
    """A client with a token of its own (its own rate-limit budget)."""
    token = mint_token(f"smoke-{uuid.uuid4().hex[:8]}", 600, settings)
    with httpx.Client(
        base_url=stack.url("api", 8080),
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def anonymous(stack) -> httpx.Client:
    with httpx.Client(base_url=stack.url("api", 8080), timeout=30) as client:
        yield client


def graphql(client: httpx.Client, query: str, **variables) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


# --- expectations computed from the seed -------------------------------------------------


def expected_order(data: Seeded, service: str) -> list[str]:
    roots = [r for r in data.roots.values() if r.service_name == service]
    roots.sort(key=lambda r: (r.start_time_unix_nano // 1000, r.trace_id), reverse=True)
    return [r.trace_id for r in roots]


def trace_status(spans: list[SpanRecord]) -> str:
    return "error" if any(s.status_code == "error" for s in spans) else "ok"


def expected_usage(data: Seeded, key_of) -> dict[tuple[str, str], dict]:
    groups: dict[tuple[str, str], list[SpanRecord]] = defaultdict(list)
    for span in data.spans:
        if span.is_llm:
            bucket = to_datetime(span.start_time_unix_nano).replace(
                minute=0, second=0, microsecond=0
            )
            groups[(bucket.isoformat(), key_of(span))].append(span)
    out = {}
    for key, spans in groups.items():
        durations = [s.duration_ms for s in spans]
        out[key] = {
            "requests": len(spans),
            "input_tokens": sum(s.input_tokens or 0 for s in spans),
            "output_tokens": sum(s.output_tokens or 0 for s in spans),
            "cost_usd": sum(s.cost_usd or 0 for s in spans),
            "error_rate": sum(s.status_code == "error" for s in spans) / len(spans),
            "p50_latency_ms": at_rank(durations, "0.5"),
            "p95_latency_ms": at_rank(durations, "0.95"),
        }
    return out


def usage_by_key(items: list[dict], keys: set[str]) -> dict[tuple[str, str], dict]:
    found = {}
    for item in items:
        if item["key"] in keys:
            bucket = datetime.fromisoformat(item["bucket"]).astimezone(UTC).isoformat()
            found[(bucket, item["key"])] = item
    return found


def assert_usage_matches(found: dict, expected: dict) -> None:
    assert set(found) == set(expected)
    for key, want in expected.items():
        got = found[key]
        assert got["requests"] == want["requests"], key
        assert got["input_tokens"] == want["input_tokens"], key
        assert got["output_tokens"] == want["output_tokens"], key
        assert got["cost_usd"] == pytest.approx(want["cost_usd"], abs=1e-9), key
        assert got["error_rate"] == pytest.approx(want["error_rate"]), key
        for name in ("p50_latency_ms", "p95_latency_ms"):
            assert close_enough(got[name], want[name]), (key, name, got[name], want[name])


def page_through(client: httpx.Client, **params) -> tuple[list[str], int]:
    ids: list[str] = []
    pages = 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("/api/v1/traces", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        ids.extend(item["trace_id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, pages
        assert pages < 50, "pagination does not end"


# --- health, docs ------------------------------------------------------------------------


def test_health_needs_no_token_and_reports_each_dependency(anonymous):
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_openapi_and_docs_are_open(anonymous):
    spec = anonymous.get("/openapi.json")
    assert spec.status_code == 200
    paths = set(spec.json()["paths"])
    assert {"/api/v1/traces", "/api/v1/traces/{trace_id}", "/api/v1/usage", "/api/v1/models"} <= (
        paths
    )
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


# --- REST: traces ------------------------------------------------------------------------


def test_trace_list_items_carry_the_trace_totals(api, seeded):
    response = api.get("/api/v1/traces", params={"service": SERVICE_B, "limit": 100})
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [i["trace_id"] for i in body["items"]] == expected_order(seeded, SERVICE_B)
    for item in body["items"]:
        spans = seeded.traces[item["trace_id"]]
        root = seeded.roots[item["trace_id"]]
        assert set(item) == {
            "trace_id", "root_name", "service", "start_time", "duration_ms", "span_count",
            "llm_calls", "input_tokens", "output_tokens", "cost_usd", "status",
        }  # fmt: skip
        assert item["root_name"] == root.name
        assert item["service"] == SERVICE_B
        assert datetime.fromisoformat(item["start_time"]) == to_datetime(root.start_time_unix_nano)
        assert item["duration_ms"] == pytest.approx(root.duration_ms)
        assert item["span_count"] == len(spans)
        assert item["llm_calls"] == sum(s.is_llm for s in spans)
        assert item["input_tokens"] == sum(s.input_tokens or 0 for s in spans)
        assert item["output_tokens"] == sum(s.output_tokens or 0 for s in spans)
        assert item["cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in spans))
        assert item["status"] == trace_status(spans)


@pytest.mark.parametrize("limit", [1, 7, 10, 30, 500])
def test_pagination_reaches_the_end_without_duplicates_or_gaps(api, seeded, limit):
    ids, pages = page_through(api, service=SERVICE_A, limit=limit)
    assert ids == expected_order(seeded, SERVICE_A)
    # No trailing empty page when the pages divide evenly (10, 30): the API looks one
    # row ahead before it hands out a cursor.
    assert pages == -(-TRACES_A // limit)


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"provider": PROVIDER_2}, lambda spans: any(s.provider == PROVIDER_2 for s in spans)),
        ({"model": MODEL_1}, lambda spans: any(s.model == MODEL_1 for s in spans)),
        ({"status": "error"}, lambda spans: trace_status(spans) == "error"),
        ({"status": "ok"}, lambda spans: trace_status(spans) == "ok"),
        (
            {"provider": PROVIDER_1, "status": "error"},
            lambda spans: (
                any(s.provider == PROVIDER_1 for s in spans) and trace_status(spans) == "error"
            ),
        ),
    ],
    ids=["provider", "model", "status-error", "status-ok", "provider+status"],
)
def test_trace_filters(api, seeded, params, predicate):
    ids, _ = page_through(api, service=SERVICE_A, limit=8, **params)
    expected = [t for t in expected_order(seeded, SERVICE_A) if predicate(seeded.traces[t])]
    assert expected, "the seed must have traces for this filter"
    assert ids == expected
    assert len(expected) < TRACES_A  # the filter really filtered


def test_trace_time_range_filter(api, seeded):
    start, end = BASE + timedelta(minutes=30), BASE + timedelta(minutes=60)
    ids, _ = page_through(
        api, service=SERVICE_A, limit=4, **{"from": start.isoformat(), "to": end.isoformat()}
    )
    expected = [
        t
        for t in expected_order(seeded, SERVICE_A)
        if ns(start) <= seeded.roots[t].start_time_unix_nano < ns(end)
    ]
    assert 0 < len(expected) < TRACES_A
    assert ids == expected


def test_trace_list_empty_result(api, seeded):
    response = api.get("/api/v1/traces", params={"service": f"nobody-{TAG}"})
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def test_trace_detail_returns_every_span(api, seeded):
    trace_id = next(t for t, r in seeded.roots.items() if r.name == "agent run 3")
    response = api.get(f"/api/v1/traces/{trace_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["trace_id"] == trace_id
    spans = {s["span_id"]: s for s in body["spans"]}
    assert set(spans) == {s.span_id for s in seeded.traces[trace_id]}
    starts = [s["start_time"] for s in body["spans"]]
    assert starts == sorted(starts)
    for record in seeded.traces[trace_id]:
        got = spans[record.span_id]
        assert set(got) == set(Span.model_fields)  # every stored field (test_api_explorer)
        assert got["parent_span_id"] == record.parent_span_id
        assert (got["name"], got["service"], got["kind"]) == (
            record.name,
            record.service_name,
            record.kind,
        )
        assert got["status"] == record.status_code
        assert (got["provider"], got["model"], got["operation"]) == (
            record.provider,
            record.model,
            record.operation,
        )
        assert (got["input_tokens"], got["output_tokens"]) == (
            record.input_tokens,
            record.output_tokens,
        )
        assert got["duration_ms"] == pytest.approx(record.duration_ms)
        assert got["pii_types"] == record.pii_types
        assert got["attributes"] == record.attributes
        if record.cost_usd is None:
            assert got["cost_usd"] is None
        else:
            assert got["cost_usd"] == pytest.approx(record.cost_usd)
        assert [e["name"] for e in got["events"]] == [e["name"] for e in record.events]
    llm = next(s for s in body["spans"] if s["model"])
    assert llm["pii_types"] == ["email"]


def test_trace_detail_unknown_id_is_404(api, seeded):
    response = api.get(f"/api/v1/traces/{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert "trace_id" in response.json()["detail"]


# --- REST: usage, models -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_by", "key_of", "keys"),
    [
        ("model", lambda s: s.model, {MODEL_1, MODEL_2}),
        ("provider", lambda s: s.provider, {PROVIDER_1, PROVIDER_2}),
        ("service", lambda s: s.service_name, {SERVICE_A, SERVICE_B}),
    ],
)
def test_usage_grouped_hourly(api, seeded, group_by, key_of, keys):
    response = api.get(
        "/api/v1/usage",
        params={
            "group_by": group_by,
            "interval": "1h",
            "from": BASE.isoformat(),
            "to": (BASE + timedelta(hours=3)).isoformat(),
        },
    )
    assert response.status_code == 200
    items = response.json()["items"]
    for item in items:
        assert set(item) == {
            "bucket", "key", "requests", "input_tokens", "output_tokens", "cost_usd",
            "error_rate", "p50_latency_ms", "p95_latency_ms",
        }  # fmt: skip
    assert_usage_matches(usage_by_key(items, keys), expected_usage(seeded, key_of))


def test_usage_daily_and_per_minute_buckets(api, seeded):
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(hours=3)).isoformat()}
    daily = api.get("/api/v1/usage", params={"interval": "1d", **window}).json()["items"]
    mine = [i for i in daily if i["key"] in {MODEL_1, MODEL_2}]
    llm = [s for s in seeded.spans if s.is_llm]
    assert sum(i["requests"] for i in mine) == len(llm)
    for item in mine:
        assert datetime.fromisoformat(item["bucket"]).time().isoformat() == "00:00:00"

    minutes = api.get("/api/v1/usage", params={"interval": "1m", **window}).json()["items"]
    mine = [i for i in minutes if i["key"] in {MODEL_1, MODEL_2}]
    assert sum(i["requests"] for i in mine) == len(llm)
    # Each trace's LLM calls start in its own minute (traces are 3 minutes apart).
    assert len({i["bucket"] for i in mine}) == len(seeded.roots) - 1  # 10 and 11 share one


def test_usage_defaults_to_the_last_24_hours(api, seeded):
    response = api.get("/api/v1/usage", params={"group_by": "service"})
    assert response.status_code == 200
    mine = [i for i in response.json()["items"] if i["key"] in {SERVICE_A, SERVICE_B}]
    assert sum(i["requests"] for i in mine) == sum(s.is_llm for s in seeded.spans)


def test_usage_empty_window(api, seeded):
    response = api.get(
        "/api/v1/usage", params={"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"}
    )
    assert response.status_code == 200
    assert response.json() == {"items": []}


def _metric(stack, name: str, **labels) -> float:
    """One sample of the API's /metrics (0 when the series does not exist yet)."""
    text = httpx.get(stack.url("api", 9090, "/metrics"), timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_usage_is_cached_in_redis(api, stack, seeded):
    # A window nobody else asks for: the first request misses, the second hits.
    end = BASE + timedelta(hours=3, microseconds=random.randrange(1, 999_999))
    params = {"group_by": "model", "from": BASE.isoformat(), "to": end.isoformat()}
    misses = _metric(stack, "llmo_api_cache_misses_total", query="usage")
    hits = _metric(stack, "llmo_api_cache_hits_total", query="usage")
    first = api.get("/api/v1/usage", params=params)
    second = api.get("/api/v1/usage", params=params)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert _metric(stack, "llmo_api_cache_misses_total", query="usage") == misses + 1
    assert _metric(stack, "llmo_api_cache_hits_total", query="usage") == hits + 1


def test_models_lists_each_model_with_provider_and_totals(api, seeded):
    response = api.get("/api/v1/models")
    assert response.status_code == 200
    found = {m["model"]: m for m in response.json()["items"] if m["model"] in {MODEL_1, MODEL_2}}
    assert set(found) == {MODEL_1, MODEL_2}
    for model, provider in ((MODEL_1, PROVIDER_1), (MODEL_2, PROVIDER_2)):
        spans = [s for s in seeded.spans if s.model == model]
        assert found[model]["provider"] == provider
        assert found[model]["requests"] == len(spans)
        assert found[model]["input_tokens"] == sum(s.input_tokens for s in spans)
        assert found[model]["output_tokens"] == sum(s.output_tokens for s in spans)
        assert found[model]["cost_usd"] == pytest.approx(sum(s.cost_usd for s in spans))
        assert found[model]["errors"] == sum(s.status_code == "error" for s in spans)


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/api/v1/usage", {"interval": "5m"}, "interval"),
        ("/api/v1/usage", {"group_by": "color"}, "group_by"),
        ("/api/v1/usage", {"from": "yesterday"}, "from"),
        ("/api/v1/usage", {"to": "soon"}, "to"),
        ("/api/v1/usage", {"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}, "from"),
        ("/api/v1/usage", {"interval": "1m", "from": "2020-01-01T00:00:00Z"}, "interval"),
        ("/api/v1/traces", {"limit": "0"}, "limit"),
        ("/api/v1/traces", {"limit": "501"}, "limit"),
        ("/api/v1/traces", {"limit": "ten"}, "limit"),
        ("/api/v1/traces", {"from": "yesterday"}, "from"),
        ("/api/v1/traces", {"status": "broken"}, "status"),
        ("/api/v1/traces", {"cursor": "not-a-cursor!"}, "cursor"),
        ("/api/v1/traces", {"cursor": "WzEsMl0"}, "cursor"),  # base64 of [1,2]
    ],
)
def test_bad_parameters_get_422_naming_the_parameter(api, path, params, parameter):
    response = api.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"].startswith(f"{parameter}:")
    assert any(error["loc"][-1] == parameter for error in body["detail"])


# --- GraphQL -----------------------------------------------------------------------------

TRACES_QUERY = """
query ($filter: TraceFilter, $first: Int!, $after: String) {
  traces(filter: $filter, first: $first, after: $after) {
    items { traceId rootName service startTime durationMs spanCount llmCalls
            inputTokens outputTokens costUsd status }
    nextCursor
  }
}
"""


def test_graphql_traces_paginate_with_filter(api, seeded):
    ids: list[str] = []
    after = None
    for _ in range(20):
        body = graphql(
            api,
            TRACES_QUERY,
            filter={"service": SERVICE_A, "status": "error"},
            first=2,
            after=after,
        )
        assert "errors" not in body, body
        page = body["data"]["traces"]
        ids.extend(item["traceId"] for item in page["items"])
        for item in page["items"]:
            spans = seeded.traces[item["traceId"]]
            assert item["status"] == "error"
            assert item["spanCount"] == len(spans)
            assert item["inputTokens"] == sum(s.input_tokens or 0 for s in spans)
        after = page["nextCursor"]
        if after is None:
            break
    expected = [
        t for t in expected_order(seeded, SERVICE_A) if trace_status(seeded.traces[t]) == "error"
    ]
    assert ids == expected


def test_graphql_trace_and_unknown_trace(api, seeded):
    trace_id = next(iter(seeded.roots))
    query = "query ($id: String!) { trace(traceId: $id) { traceId spans { spanId parentSpanId name status model costUsd piiTypes attributes events } } }"  # noqa: E501
    body = graphql(api, query, id=trace_id)
    assert "errors" not in body, body
    trace = body["data"]["trace"]
    assert trace["traceId"] == trace_id
    assert {s["spanId"] for s in trace["spans"]} == {s.span_id for s in seeded.traces[trace_id]}
    assert graphql(api, query, id=uuid.uuid4().hex) == {"data": {"trace": None}}


def test_graphql_usage_matches_rest(api, seeded):
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(hours=3)).isoformat()}
    query = """
    query ($from: DateTime, $to: DateTime) {
      usage(groupBy: "provider", interval: "1h", from: $from, to: $to) {
        bucket key requests inputTokens outputTokens costUsd errorRate p50LatencyMs p95LatencyMs
      }
    }"""
    body = graphql(api, query, **window)
    assert "errors" not in body, body
    rest = api.get(
        "/api/v1/usage", params={"group_by": "provider", "interval": "1h", **window}
    ).json()["items"]
    keys = {PROVIDER_1, PROVIDER_2}
    camel = [
        {
            "bucket": r["bucket"],
            "key": r["key"],
            "requests": r["requests"],
            "input_tokens": r["inputTokens"],
            "output_tokens": r["outputTokens"],
            "cost_usd": r["costUsd"],
            "error_rate": r["errorRate"],
            "p50_latency_ms": r["p50LatencyMs"],
            "p95_latency_ms": r["p95LatencyMs"],
        }
        for r in body["data"]["usage"]
    ]

    # Same rows; the bucket is compared as a time (REST writes Z, GraphQL +00:00).
    def without_bucket(rows: dict) -> dict:
        return {key: {k: v for k, v in row.items() if k != "bucket"} for key, row in rows.items()}

    assert without_bucket(usage_by_key(camel, keys)) == without_bucket(usage_by_key(rest, keys))
    assert_usage_matches(usage_by_key(camel, keys), expected_usage(seeded, lambda s: s.provider))


def test_graphql_models(api, seeded):
    body = graphql(api, "{ models { model provider requests inputTokens costUsd } }")
    assert "errors" not in body, body
    found = {m["model"]: m for m in body["data"]["models"]}
    assert found[MODEL_1]["provider"] == PROVIDER_1
    assert found[MODEL_1]["requests"] == sum(s.model == MODEL_1 for s in seeded.spans)


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ usage(interval: "5m") { key } }', "interval"),
        ('{ usage(groupBy: "color") { key } }', "groupBy"),
        ("{ traces(first: 0) { nextCursor } }", "first"),
        ('{ traces(after: "garbage!") { nextCursor } }', "after"),
        ('{ traces(filter: {status: "meh"}) { nextCursor } }', "filter.status"),
    ],
)
def test_graphql_bad_arguments_are_named(api, query, argument):
    body = graphql(api, query)
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert error["message"].startswith(f"{argument}:")


def test_graphql_needs_a_token(anonymous):
    response = anonymous.post("/graphql", json={"query": "{ models { model } }"})
    assert response.status_code == 401


# --- auth --------------------------------------------------------------------------------


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_auth_failures_get_401_with_www_authenticate(anonymous, settings):
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "smoke", "iat": now - 7200, "exp": now - 3600},
        settings.jwt_secret,
        algorithm=settings.jwt_algorithm,
    )
    wrong_key = jwt.encode(
        {"sub": "smoke", "exp": now + 600}, "not-the-secret-" * 3, algorithm="HS256"
    )
    no_subject = jwt.encode(
        {"exp": now + 600}, settings.jwt_secret, algorithm=settings.jwt_algorithm
    )
    cases = {
        "missing": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer"},
        "malformed": _bearer("not.a.jwt"),
        "expired": _bearer(expired),
        "wrong signature": _bearer(wrong_key),
        "no subject": _bearer(no_subject),
    }
    for case, headers in cases.items():
        response = anonymous.get("/api/v1/traces", headers=headers)
        assert response.status_code == 401, case
        assert response.headers["WWW-Authenticate"].startswith("Bearer "), case
        if case != "missing":
            assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], case
    reasons = {
        case: anonymous.get("/api/v1/traces", headers=headers).json()["detail"]
        for case, headers in cases.items()
        if case in {"expired", "wrong signature"}
    }
    assert "expired" in reasons["expired"]
    assert "signature" in reasons["wrong signature"]
    # The control: the same request with a good token passes.
    good = anonymous.get(
        "/api/v1/traces", headers=_bearer(mint_token("smoke", 60, settings)), params={"limit": 1}
    )
    assert good.status_code == 200


# --- rate limiting -----------------------------------------------------------------------


def test_rate_limit_per_client_answers_429_with_retry_after(stack, settings):
    limit, window = settings.rate_limit_requests, settings.rate_limit_window
    limited = mint_token(f"ratelimit-{uuid.uuid4().hex[:8]}", 600, settings)
    other = mint_token(f"bystander-{uuid.uuid4().hex[:8]}", 600, settings)
    with httpx.Client(base_url=stack.url("api", 8080), timeout=30) as client:
        statuses = []
        # Two windows' worth at most: a window may turn over during the burst.
        for _ in range(2 * limit + 2):
            response = client.get("/api/v1/models", headers=_bearer(limited))
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
        assert statuses[-1] == 429, f"no 429 after {len(statuses)} requests"
        assert set(statuses[:-1]) == {200}
        assert len(statuses) - 1 >= limit  # never refused before the limit
        retry_after = int(response.headers["Retry-After"])
        assert 1 <= retry_after <= window + 1
        assert response.headers["X-RateLimit-Remaining"] == "0"
        # Per client: someone else is still served.
        assert client.get("/api/v1/models", headers=_bearer(other)).status_code == 200


# --- CORS --------------------------------------------------------------------------------


def test_cors_preflight_from_an_allowed_origin(anonymous, settings):
    origin = settings.cors_origin_list[0]
    response = anonymous.options(
        "/api/v1/traces",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()

    refused = anonymous.options(
        "/api/v1/traces",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers


# --- metrics -----------------------------------------------------------------------------


def test_request_metrics_are_labelled_by_route_template(api, stack, seeded):
    labels = {"route": "/api/v1/traces/{trace_id}", "method": "GET", "status": "404"}
    before = _metric(stack, "llmo_api_requests_total", **labels)
    api.get(f"/api/v1/traces/{uuid.uuid4().hex}")
    api.get(f"/api/v1/traces/{uuid.uuid4().hex}")
    assert _metric(stack, "llmo_api_requests_total", **labels) == before + 2
    assert _metric(stack, "llmo_api_request_duration_seconds_count", **labels) == before + 2


# --- the read-only role ------------------------------------------------------------------

READ_ONLY_PROBE = """
import asyncio, psycopg
from llm_observatory.api.database import make_pool
from llm_observatory.core.settings import ApiSettings

INSERT = (
    "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, service_name,"
    " name, kind) VALUES (now(), now(), 0, 'ro', 'ro', 'ro', 'ro', 'internal')"
)

async def main():
    async with make_pool(ApiSettings()) as pool:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT current_user AS u")).fetchone()
            print("USER", row["u"])
            try:
                await conn.execute(INSERT)
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                print("READONLY", exc.sqlstate)
            else:
                print("WROTE")
            # Even with the role's read-only default lifted, the grants refuse writes.
            await conn.execute("SET default_transaction_read_only = off")
            for statement in (INSERT, "DELETE FROM spans", "TRUNCATE spans"):
                try:
                    await conn.execute(statement)
                except psycopg.errors.InsufficientPrivilege as exc:
                    print("DENIED", exc.sqlstate)
                else:
                    print("WROTE")

asyncio.run(main())
"""


def test_the_api_connects_with_the_read_only_role(stack):
    result = stack.exec("api", "python", "-c", READ_ONLY_PROBE)
    lines = result.stdout.split()
    readonly_user = os.environ.get("DB_READONLY_USER", "llm_observatory_readonly")
    assert lines[:2] == ["USER", readonly_user], result.stdout + result.stderr
    # The role defaults to read-only transactions (25006), and has no write grants
    # (42501) for INSERT, DELETE or TRUNCATE.
    assert lines[2:] == ["READONLY", "25006", *["DENIED", "42501"] * 3], result.stdout


# --- Redis down (last: it restarts Redis) ------------------------------------------------


def test_without_redis_the_api_answers_and_health_names_redis(stack, settings, seeded):
    token = mint_token(f"noredis-{uuid.uuid4().hex[:8]}", 600, settings)
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(hours=3)).isoformat()}
    base = stack.url("api", 8080)
    with httpx.Client(base_url=base, headers=_bearer(token), timeout=30) as client:
        before = client.get("/api/v1/usage", params=window).json()
        stack.compose("stop", "redis")
        try:
            health = client.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert set(body) == {"status", "database", "redis"}
            assert body["status"] == "degraded"
            assert body["database"] == "ok"
            assert body["redis"].startswith("down")

            started = time.monotonic()
            for _ in range(3):
                usage = client.get("/api/v1/usage", params=window)
                assert usage.status_code == 200
                assert usage.json() == before
                traces = client.get("/api/v1/traces", params={"service": SERVICE_B})
                assert traces.status_code == 200
                assert len(traces.json()["items"]) == TRACES_B
            assert time.monotonic() - started < 10, "requests wait for the missing Redis"
        finally:
            stack.compose("start", "redis")
            stack.wait_healthy("redis")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = client.get("/health")
            if health.status_code == 200:
                break
            time.sleep(0.5)
        assert health.json() == {"status": "ok", "database": "ok", "redis": "ok"}
