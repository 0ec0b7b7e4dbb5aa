"""The trace explorer's API against the running test stack, over demo data with messages.

The data comes from the shared demo-data builder (cli/demo_data.py) with services
suffixed by a tag of this module, written with storage's writers as the owner: agent
traces with prompts, completions and tool calls, sessions of several turns, users,
failures and log records. Every expectation is computed from those records, and every
query filters by a tagged service (or asks for a tagged id), so other tests' data
never changes an answer.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from llm_observatory.api.auth import mint_token
from llm_observatory.api.schemas import LogRecord, Span
from llm_observatory.cli.demo_data import DemoData
from llm_observatory.core.records import LogRecordRow, SpanRecord
from llm_observatory.core.settings import ApiSettings
from llm_observatory.storage.writer import LogRecordWriter, SpanWriter

pytestmark = [pytest.mark.docker, pytest.mark.stack]

TAG = uuid.uuid4().hex[:8]
SUPPORT = f"support-agent-{TAG}"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


@dataclass
class Demo:
    spans: list[SpanRecord]
    logs: list[LogRecordRow]

    def __post_init__(self) -> None:
        self.traces: dict[str, list[SpanRecord]] = defaultdict(list)
        for span in self.spans:
            self.traces[span.trace_id].append(span)
        self.roots = {s.trace_id: s for s in self.spans if s.parent_span_id is None}

    def roots_of(self, service: str) -> list[SpanRecord]:
        return [r for r in self.roots.values() if r.service_name == service]

    def calls(self, service: str) -> list[SpanRecord]:
        return [s for s in self.spans if s.is_llm and s.service_name == service]


async def _write(url: str, demo: Demo) -> tuple[int, int]:
    async with AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as pool:
        return await SpanWriter(pool).write(demo.spans), await LogRecordWriter(pool).write(
            demo.logs
        )


@pytest.fixture(scope="module")
def demo(stack) -> Demo:
    # The last two hours, ending a minute ago: whole sessions, all in the past.
    end = time.time_ns() - 60 * 10**9
    spans, logs = [], []
    # A fixed seed: the same traces every run (the filters below need their cases).
    data = DemoData(seed=11, days=2 / 24, end_ns=end, service_suffix=f"-{TAG}")
    for batch_spans, batch_logs in data.batches(1500, 500):
        spans += batch_spans
        logs += batch_logs
    found = Demo(spans, logs)
    assert asyncio.run(_write(stack.database_url(), found)) == (len(spans), len(logs))
    return found


@pytest.fixture(scope="module")
def settings() -> ApiSettings:
    return ApiSettings()


@pytest.fixture
def api(stack, settings) -> httpx.Client:
    token = mint_token(f"explorer-{uuid.uuid4().hex[:8]}", 600, settings)
    with httpx.Client(
        base_url=stack.url("api", 8080), headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        yield client


def get(client: httpx.Client, path: str, **params) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def graphql(client: httpx.Client, query: str, **variables) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def snake(value):
    """A GraphQL answer with REST's names and time format, to compare the two."""
    if isinstance(value, dict):
        return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+\+00:00", value):
        return value.replace("+00:00", "Z")
    return value


def fields_query(model, skip=()) -> str:
    """`{ a b c }` of a model's fields in camelCase (JSON scalars take no selection)."""

    def camel(name: str) -> str:
        head, *rest = name.split("_")
        return head + "".join(p.title() for p in rest)

    return " ".join(camel(f) for f in model.model_fields if f not in skip)


def page_all(client: httpx.Client, path: str, **params) -> list[dict]:
    items, cursor = [], None
    for _ in range(200):
        body = get(client, path, **params, **({"cursor": cursor} if cursor else {}))
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


# --- traces ----------------------------------------------------------------------------


def test_trace_detail_has_every_stored_field_and_the_trace_logs(api, demo):
    trace_id = next(
        t
        for t, spans in demo.traces.items()
        if any(s.operation == "chat" and s.cache_read_tokens for s in spans)
    )
    body = get(api, f"/api/v1/traces/{trace_id}")
    spans = demo.traces[trace_id]
    assert body["span_count"] == len(spans) and body["truncated"] is False
    assert body["llm_calls"] == sum(s.is_llm for s in spans)
    assert body["cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in spans if s.is_llm))
    got = {s["span_id"]: s for s in body["spans"]}
    for record in spans:
        span = got[record.span_id]
        assert set(span) == set(Span.model_fields)
        expected = {
            "parent_span_id": record.parent_span_id,
            "name": record.name,
            "service": record.service_name,
            "kind": record.kind,
            "scope": record.scope_name,
            "status": record.status_code,
            "status_message": record.status_message,
            "is_llm": record.is_llm,
            "provider": record.provider,
            "operation": record.operation,
            "request_model": record.request_model,
            "response_model": record.response_model,
            "model": record.model,
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "total_tokens": record.total_tokens,
            "cache_read_tokens": record.cache_read_tokens,
            "cache_creation_tokens": record.cache_creation_tokens,
            "reasoning_tokens": record.reasoning_tokens,
            "conversation_id": record.conversation_id,
            "user_id": record.user_id,
            "input_messages": record.input_messages,
            "output_messages": record.output_messages,
            "pii_types": record.pii_types,
            "attributes": record.attributes,
            "resource_attributes": record.resource_attributes,
            "links": record.links,
            "events": record.events,
        }
        assert {k: span[k] for k in expected} == expected, record.name
        assert span["cost_usd"] == pytest.approx(record.cost_usd)
        assert span["finish_reasons"] == record.attributes.get("gen_ai.response.finish_reasons", [])
    logs = [r for r in demo.logs if r.trace_id == trace_id]
    assert [r["body"] for r in body["log_records"]] == [
        r.body for r in sorted(logs, key=lambda r: (r.time_unix_nano, r.span_id))
    ]
    assert all(set(r) == set(LogRecord.model_fields) for r in body["log_records"])
    assert body["log_records_truncated"] is False


def test_rest_and_graphql_give_the_same_trace(api, demo):
    trace_id = next(t for t, r in demo.roots.items() if r.status_code == "error")
    rest = get(api, f"/api/v1/traces/{trace_id}")
    span_fields = fields_query(Span)
    log_fields = fields_query(LogRecord)
    query = (
        "query ($id: String!) { trace(traceId: $id) { traceId startTime endTime spanCount "
        f"llmCalls inputTokens outputTokens costUsd status truncated spans {{ {span_fields} }} "
        f"logRecords {{ {log_fields} }} logRecordsTruncated }} }}"
    )
    assert snake(graphql(api, query, id=trace_id)["trace"]) == rest
    assert rest["status"] == "error"
    assert any(s["status_message"] for s in rest["spans"] if s["status"] == "error")


def _latest(spans: list[SpanRecord]) -> int:
    return max(s.start_time_unix_nano // 1000 for s in spans)


def _newest_first(roots: list[SpanRecord]) -> list[SpanRecord]:
    return sorted(roots, key=lambda r: (r.start_time_unix_nano // 1000, r.trace_id), reverse=True)


def _cost(spans: list[SpanRecord]) -> Decimal:
    return sum((Decimal(str(s.cost_usd)) for s in spans if s.is_llm and s.cost_usd), Decimal(0))


SORT_KEYS = {
    "time": lambda demo, root: root.start_time_unix_nano // 1000,
    "duration": lambda demo, root: root.duration_ms,
    "cost": lambda demo, root: _cost(demo.traces[root.trace_id]),
}


@pytest.mark.parametrize(
    ("sort", "order"),
    [("time", "desc"), ("time", "asc"), ("duration", "desc"), ("cost", "desc"), ("cost", "asc")],
)
def test_every_sort_pages_to_the_end_in_order(api, demo, sort, order):
    roots = demo.roots_of(SUPPORT)
    key = SORT_KEYS[sort]
    expected = [
        r.trace_id
        for r in sorted(roots, key=lambda r: (key(demo, r), r.trace_id), reverse=order == "desc")
    ]
    items = page_all(api, "/api/v1/traces", service=SUPPORT, sort=sort, order=order, limit=7)
    assert [i["trace_id"] for i in items] == expected
    if sort == "cost":
        assert [Decimal(str(i["cost_usd"])) for i in items] == [
            _cost(demo.traces[t]) for t in expected
        ]


@pytest.mark.parametrize(
    ("name", "params", "keep"),
    [
        (
            "model",
            lambda d: {"model": "gpt-4o-mini-2024-07-18"},
            lambda d, spans: any(s.model == "gpt-4o-mini-2024-07-18" for s in spans if s.is_llm),
        ),
        (
            "error",
            lambda d: {"status": "error"},
            lambda d, spans: any(s.status_code == "error" for s in spans),
        ),
        (
            "model+error",
            lambda d: {"model": "gpt-4o-mini-2024-07-18", "status": "error"},
            lambda d, spans: (
                any(s.model == "gpt-4o-mini-2024-07-18" for s in spans if s.is_llm)
                and any(s.status_code == "error" for s in spans)
            ),
        ),
        (
            "ok",
            lambda d: {"status": "ok"},
            lambda d, spans: not any(s.status_code == "error" for s in spans),
        ),
        (
            "user",
            lambda d: {"user": d.roots_of(SUPPORT)[0].user_id},
            lambda d, spans: any(
                s.user_id == d.roots_of(SUPPORT)[0].user_id for s in spans if s.is_llm
            ),
        ),
        (
            "session",
            lambda d: {"session": d.roots_of(SUPPORT)[0].conversation_id},
            lambda d, spans: spans[0].conversation_id == d.roots_of(SUPPORT)[0].conversation_id,
        ),
    ],
)
def test_span_filters_narrow_the_list(api, demo, name, params, keep):
    expected = [
        r.trace_id
        for r in _newest_first(demo.roots_of(SUPPORT))
        if keep(demo, demo.traces[r.trace_id])
    ]
    assert expected, name
    items = page_all(api, "/api/v1/traces", service=SUPPORT, limit=20, **params(demo))
    assert [i["trace_id"] for i in items] == expected
    assert len(expected) < len(demo.roots_of(SUPPORT)) or name == "ok"


def test_search_finds_the_trace_of_one_prompt(api, demo):
    # An order number is in one conversation's prompts only.
    prompts = {
        t: s.input_messages[-1]["parts"][0].get("content", "")
        for t, spans in demo.traces.items()
        for s in spans
        if s.operation == "chat"
        and s.service_name == SUPPORT
        and s.input_messages[-1]["role"] == "user"
    }
    trace_id, prompt = next(iter(prompts.items()))
    number = re.search(r"#(\d{5})", prompt).group(1)
    found = page_all(api, "/api/v1/traces", service=SUPPORT, q=number)
    ids = {i["trace_id"] for i in found}
    assert trace_id in ids
    word = re.compile(rf"\b{number}\b")
    for found_id in ids:
        assert any(
            word.search(str(s.input_messages[-1]) + str(s.output_messages))
            for s in demo.traces[found_id]
            if s.input_messages
        ), found_id
    assert len(ids) < len(demo.roots_of(SUPPORT)) // 4
    nothing = get(api, "/api/v1/traces", service=SUPPORT, q=f"{number} nosuchwordanywhere")
    assert nothing["items"] == []
    graph = graphql(
        api, "query ($q: String) { traces(filter: {q: $q}) { items { traceId } } }", q=number
    )
    assert {i["traceId"] for i in graph["traces"]["items"]} >= ids


def test_rest_and_graphql_give_the_same_trace_page(api, demo):
    rest = get(api, "/api/v1/traces", service=SUPPORT, sort="cost", limit=5)
    query = (
        'query ($s: String) { traces(filter: {service: $s}, sort: "cost", first: 5) '
        "{ items { traceId rootName service startTime durationMs spanCount llmCalls "
        "inputTokens outputTokens costUsd status } nextCursor } }"
    )
    assert snake(graphql(api, query, s=SUPPORT)["traces"]) == rest


# --- sessions and users ----------------------------------------------------------------


def _sessions(demo: Demo) -> dict[str, list[SpanRecord]]:
    found: dict[str, list[SpanRecord]] = defaultdict(list)
    for call in demo.calls(SUPPORT):
        found[call.conversation_id].append(call)
    return found


def test_sessions_page_to_the_end_with_their_totals(api, demo):
    sessions = _sessions(demo)
    expected = sorted(sessions, key=lambda c: (_latest(sessions[c]), c), reverse=True)
    items = page_all(api, "/api/v1/sessions", service=SUPPORT, limit=4)
    assert [i["session_id"] for i in items] == expected
    assert any(i["traces"] > 1 for i in items), "sessions span several traces"
    for item in items:
        calls = sessions[item["session_id"]]
        assert item["llm_calls"] == len(calls)
        assert item["traces"] == len({s.trace_id for s in calls})
        assert item["input_tokens"] == sum(s.input_tokens or 0 for s in calls)
        assert item["errors"] == sum(s.status_code == "error" for s in calls)
        assert item["users"] == sorted({s.user_id for s in calls})
        assert datetime.fromisoformat(item["first_seen"]) == at(
            min(s.start_time_unix_nano for s in calls)
        )


def test_a_session_reads_as_one_conversation(api, demo):
    sessions = _sessions(demo)
    session_id = max(sessions, key=lambda c: len({s.trace_id for s in sessions[c]}))
    body = get(api, f"/api/v1/sessions/{session_id}")
    traces = body["traces"]
    assert len(traces) == len({s.trace_id for s in sessions[session_id]}) > 1
    assert [t["start_time"] for t in traces] == sorted(t["start_time"] for t in traces)
    calls = [c for t in traces for c in t["calls"]]
    assert [c["span_id"] for c in calls] == [
        s.span_id
        for s in sorted(sessions[session_id], key=lambda s: (s.start_time_unix_nano, s.span_id))
    ]
    assert all(c["input_messages"] for c in calls if c["operation"] == "chat")
    assert traces[0]["root_name"].startswith("invoke_agent")
    query = (
        "query ($id: String!) { session(sessionId: $id) { session { sessionId firstSeen lastSeen "
        "traces llmCalls inputTokens outputTokens costUsd errors users } traces { traceId "
        f"rootName service startTime calls {{ {fields_query(Span)} }} }} truncated }} }}"
    )
    assert snake(graphql(api, query, id=session_id)["session"]) == body


def test_users_and_one_user(api, demo):
    by_user: dict[str, list[SpanRecord]] = defaultdict(list)
    for call in demo.calls(SUPPORT):
        by_user[call.user_id].append(call)
    expected = sorted(by_user, key=lambda u: (_latest(by_user[u]), u), reverse=True)
    items = page_all(api, "/api/v1/users", service=SUPPORT, limit=3)
    assert [i["user_id"] for i in items] == expected
    for item in items:
        calls = by_user[item["user_id"]]
        assert item["llm_calls"] == len(calls)
        assert item["sessions"] == len({s.conversation_id for s in calls})
        assert item["cost_usd"] == pytest.approx(sum(s.cost_usd or 0 for s in calls))
    rest = get(api, "/api/v1/users", service=SUPPORT, limit=3)
    query = (
        "query ($s: String) { users(filter: {service: $s}, first: 3) { items { userId firstSeen "
        "lastSeen llmCalls sessions inputTokens outputTokens costUsd errors } nextCursor } }"
    )
    assert snake(graphql(api, query, s=SUPPORT)["users"]) == rest
    # A user's own answer: totals over all their calls, recent sessions and traces.
    user = get(api, f"/api/v1/users/{expected[0]}")
    assert user["user"]["user_id"] == expected[0]
    assert user["sessions"]["items"] and user["traces"]["items"]


# --- logs ------------------------------------------------------------------------------


def test_logs_filter_and_page_to_the_end(api, demo):
    mine = [r for r in demo.logs if r.service_name == SUPPORT]
    items = page_all(api, "/api/v1/logs", service=SUPPORT, limit=50)
    assert len(items) == len(mine)
    times = [datetime.fromisoformat(i["time"]) for i in items]
    assert times == sorted(times, reverse=True)
    assert sorted(i["body"] for i in items) == sorted(r.body for r in mine)
    errors = page_all(api, "/api/v1/logs", service=SUPPORT, min_severity="error")
    assert len(errors) == sum((r.severity_number or 0) >= 17 for r in mine) > 0
    warnings = get(api, "/api/v1/logs", service=SUPPORT, min_severity="warn", limit=500)["items"]
    assert {i["severity_text"] for i in warnings} <= {"WARN", "ERROR"}
    trace_id = mine[0].trace_id
    of_trace = get(api, "/api/v1/logs", trace_id=trace_id)["items"]
    assert sorted(i["body"] for i in of_trace) == sorted(
        r.body for r in demo.logs if r.trace_id == trace_id
    )
    word = next(r for r in mine if r.severity_number == 17).body.split(":")[-1].split()[-1]
    found = page_all(api, "/api/v1/logs", service=SUPPORT, q=word)
    assert found and all(word in i["body"] for i in found)
    rest = get(api, "/api/v1/logs", service=SUPPORT, limit=5)
    query = (
        "query ($s: String) { logs(filter: {service: $s}, first: 5) "
        f"{{ items {{ {fields_query(LogRecord)} }} nextCursor }} }}"
    )
    assert snake(graphql(api, query, s=SUPPORT)["logs"]) == rest


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/sessions/nobody", "/api/v1/users/nobody", "/api/v1/traces/00"]
)
def test_unknown_ids_are_404(api, demo, path):
    assert api.get(f"{path}-{TAG}").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/traces", {"sort": "size"}, "sort"),
        ("/api/v1/traces", {"q": "w" * 201}, "q"),
        ("/api/v1/sessions", {"limit": "0"}, "limit"),
        ("/api/v1/users", {"from": "never"}, "from"),
        ("/api/v1/logs", {"min_severity": "loud"}, "min_severity"),
    ],
)
def test_bad_parameters_are_422(api, path, params, name):
    response = api.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["message"].startswith(f"{name}: ")
