"""Each web UI page rendered in-process from a stubbed service layer: what it shows,
what it asks the service for, and its answers to unknown ids and bad filters."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest

from llm_observatory.api import schemas, service
from llm_observatory.api.ui.render import CONTENT_SECURITY_POLICY
from tests.unit.test_api_app import make_api

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PASSWORD = "page-test-password"


def _model(cls: type, **values: Any) -> Any:
    """A schema instance: unspecified optional fields null, lists and dicts empty."""
    defaults: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in values or not field.is_required():
            continue
        text = str(field.annotation)
        if type(None) in get_args(field.annotation):
            defaults[name] = None
        elif "list" in text:
            defaults[name] = []
        elif "dict" in text or "JsonObject" in text:
            defaults[name] = {}
    return cls(**{**defaults, **values})


def span(i: int, parent: str | None, name: str, **values: Any) -> schemas.Span:
    start = T0 + timedelta(milliseconds=100 * i)
    return _model(
        schemas.Span,
        **{
            "trace_id": TRACE_ID,
            "span_id": f"{i:016x}",
            "parent_span_id": parent,
            "name": name,
            "service": "support-bot",
            "kind": "internal",
            "start_time": start,
            "end_time": start + timedelta(milliseconds=400),
            "duration_ms": 400.0,
            "status": "ok",
            "is_llm": False,
            **values,
        },
    )


CHAT = span(
    1,
    f"{0:016x}",
    "chat gpt-4o-mini",
    kind="client",
    is_llm=True,
    provider="openai",
    operation="chat",
    request_model="gpt-4o-mini",
    response_model="gpt-4o-mini-2024-07-18",
    model="gpt-4o-mini-2024-07-18",
    input_tokens=321,
    output_tokens=45,
    cache_read_tokens=100,
    cost_usd=0.0012345,
    finish_reasons=["tool_calls"],
    conversation_id="conv-7",
    user_id="user-42",
    pii_types=["email"],
    input_messages=[
        {"role": "system", "parts": [{"type": "text", "content": "You answer briefly."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is my parcel 4417?"}]},
    ],
    output_messages=[
        {
            "role": "assistant",
            "finish_reason": "tool_calls",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_1",
                    "name": "get_order_status",
                    "arguments": {"order": "4417"},
                }
            ],
        }
    ],
)
TOOL = span(
    2,
    f"{0:016x}",
    "execute_tool get_order_status",
    status="error",
    status_message="carrier API down",
    events=[
        {
            "name": "exception",
            "attributes": {
                "exception.type": "TimeoutError",
                "exception.message": "carrier API down",
            },
        }
    ],
)
ROOT = span(
    0,
    None,
    "invoke_agent support-agent",
    duration_ms=900.0,
    end_time=T0 + timedelta(milliseconds=900),
)
SPANS = [ROOT, CHAT, TOOL]

LOG = _model(
    schemas.LogRecord,
    time=T0 + timedelta(milliseconds=150),
    service="support-bot",
    severity_number=17,
    severity_text="ERROR",
    body="carrier lookup failed",
    trace_id=TRACE_ID,
    span_id=TOOL.span_id,
)


def summary(trace_id: str = TRACE_ID, **values: Any) -> schemas.TraceSummary:
    return schemas.TraceSummary(
        **{
            "trace_id": trace_id,
            "root_name": "invoke_agent support-agent",
            "service": "support-bot",
            "start_time": T0,
            "duration_ms": 900.0,
            "span_count": 3,
            "llm_calls": 1,
            "input_tokens": 321,
            "output_tokens": 45,
            "cost_usd": 0.0012345,
            "status": "error",
            **values,
        }
    )


SESSION = schemas.SessionSummary(
    session_id="conv-7",
    first_seen=T0,
    last_seen=T0 + timedelta(minutes=2),
    traces=2,
    llm_calls=2,
    input_tokens=600,
    output_tokens=90,
    cost_usd=0.002,
    errors=0,
    users=["user-42"],
)
USER = schemas.UserSummary(
    user_id="user-42",
    first_seen=T0,
    last_seen=T0,
    llm_calls=2,
    sessions=1,
    input_tokens=600,
    output_tokens=90,
    cost_usd=0.002,
    errors=0,
)


def second_call() -> schemas.Span:
    history = [*CHAT.input_messages, *CHAT.output_messages]
    return span(
        5,
        None,
        "chat gpt-4o-mini",
        is_llm=True,
        model="gpt-4o-mini",
        cost_usd=0.0008,
        trace_id="b" * 32,
        input_messages=[
            *history,
            {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
        ],
        output_messages=[{"role": "assistant", "content": "Your parcel has shipped."}],
    )


class Calls:
    """What the pages asked the stubbed service layer for."""

    def __init__(self) -> None:
        self.queries: dict[str, list[Any]] = {}

    def note(self, name: str, value: Any) -> None:
        self.queries.setdefault(name, []).append(value)


def stub_service(monkeypatch, traces: list[schemas.TraceSummary] | None = None) -> Calls:
    calls = Calls()
    items = [summary()] if traces is None else traces

    async def list_traces(state, query):
        calls.note("list_traces", query)
        return schemas.TraceList(items=items, next_cursor="next-page-cursor")

    async def get_trace(state, trace_id):
        calls.note("get_trace", trace_id)
        if trace_id != TRACE_ID:
            return None
        return schemas.TraceDetail(
            trace_id=TRACE_ID,
            start_time=T0,
            end_time=T0 + timedelta(milliseconds=900),
            span_count=3,
            llm_calls=1,
            input_tokens=321,
            output_tokens=45,
            cost_usd=0.0012345,
            status="error",
            truncated=False,
            spans=SPANS,
            log_records=[LOG],
            log_records_truncated=False,
        )

    async def list_sessions(state, query):
        calls.note("list_sessions", query)
        return schemas.SessionList(items=[SESSION], next_cursor=None)

    async def get_session(state, session_id):
        calls.note("get_session", session_id)
        if session_id != "conv-7":
            return None
        return schemas.SessionDetail(
            session=SESSION,
            traces=[
                schemas.SessionTrace(
                    trace_id=TRACE_ID,
                    root_name="first question",
                    service="support-bot",
                    start_time=T0,
                    calls=[CHAT],
                ),
                schemas.SessionTrace(
                    trace_id="b" * 32,
                    root_name="second question",
                    service="support-bot",
                    start_time=T0 + timedelta(minutes=2),
                    calls=[second_call()],
                ),
            ],
            truncated=False,
        )

    async def list_users(state, query):
        calls.note("list_users", query)
        return schemas.UserList(items=[USER], next_cursor=None)

    async def get_user(state, user_id):
        calls.note("get_user", user_id)
        if user_id != "user-42":
            return None
        return schemas.UserDetail(
            user=USER,
            sessions=schemas.SessionList(items=[SESSION], next_cursor=None),
            traces=schemas.TraceList(items=[summary()], next_cursor=None),
        )

    async def list_logs(state, query):
        calls.note("list_logs", query)
        return schemas.LogList(items=[LOG], next_cursor=None)

    async def usage(state, query):
        calls.note("usage", query)
        return [
            schemas.UsageRow(
                bucket=T0 + timedelta(hours=h),
                key=key,
                requests=3 + h,
                input_tokens=100,
                output_tokens=20,
                cost_usd=0.01,
                error_rate=0.0,
                p50_latency_ms=200.0,
                p95_latency_ms=450.0 + h,
            )
            for h in range(3)
            for key in ("gpt-4o-mini", "claude-3-5-sonnet")
        ]

    async def models(state):
        return [
            schemas.ModelSummary(
                model="gpt-4o-mini",
                provider="openai",
                requests=9,
                input_tokens=300,
                output_tokens=60,
                cost_usd=0.03,
                errors=1,
                first_seen=T0,
                last_seen=T0,
            ),
        ]

    async def services(state):
        return ["support-bot"]

    for name, function in locals().copy().items():
        if callable(function) and hasattr(service, name):
            monkeypatch.setattr(service, name, function)
    return calls


def make_ui(**overrides: Any):
    """make_api plus what the UI needs of Redis (sessions ended by sign-out)."""
    settings = {"ui_admin_password": PASSWORD, "rate_limit_requests": 1000, **overrides}
    client, settings, _, fake_redis = make_api(**settings)

    async def exists(key):
        fake_redis._touch()
        return int(key in fake_redis.data)

    fake_redis.exists = exists
    return client, settings, fake_redis


def login_token(client) -> str:
    page = client.get("/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def sign_in(client, password=PASSWORD, user="admin", next_path="/traces", **headers):
    token = login_token(client)
    return client.post(
        "/login",
        data={"username": user, "password": password, "csrf_token": token, "next": next_path},
        headers=headers,
        follow_redirects=False,
    )


@pytest.fixture
def ui(monkeypatch):
    calls = stub_service(monkeypatch)
    client, *_ = make_ui()
    assert sign_in(client).status_code == 303
    return client, calls


def test_pages_carry_a_strict_content_security_policy(ui):
    client, _ = ui
    response = client.get("/traces")
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "<script>" not in response.text  # no inline script the policy would block
    assert response.headers["cache-control"] == "no-store"


def test_traces_list_shows_traces_and_passes_the_filters_on(ui):
    client, calls = ui
    response = client.get(
        "/traces",
        params={
            "model": "gpt-4o-mini",
            "status": "error",
            "q": "parcel",
            "sort": "cost",
            "range": "24h",
        },
    )
    assert response.status_code == 200
    assert f'href="/traces/{TRACE_ID}"' in response.text
    assert response.text.count('class="trace-row"') == 1
    query = calls.queries["list_traces"][-1]
    assert (query.filter.model, query.filter.status, query.filter.q) == (
        "gpt-4o-mini",
        "error",
        "parcel",
    )
    assert query.sort == "cost"
    assert query.filter.start is not None  # the 24 h preset became `from`
    # The next page keeps every filter and adds the cursor.
    assert "cursor=next-page-cursor" in response.text
    assert re.search(r'href="/traces\?[^"]*model=gpt-4o-mini[^"]*cursor=', response.text)


def test_a_bad_filter_is_a_422_page_naming_it(ui):
    client, _ = ui
    response = client.get("/traces", params={"status": "sideways"})
    assert response.status_code == 422
    assert "status" in response.text
    assert client.get("/traces", params={"range": "forever"}).status_code == 422
    assert client.get("/logs", params={"min_severity": "loud"}).status_code == 422
    assert client.get("/models", params={"interval": "2h"}).status_code == 422


def test_trace_page_has_one_waterfall_row_per_span_and_the_llm_calls_transcript(ui):
    client, _ = ui
    response = client.get(f"/traces/{TRACE_ID}")
    assert response.status_code == 200
    text = response.text
    assert text.count('class="waterfall-row') == len(SPANS)
    # Children are indented under their parent, in order of start.
    order = re.findall(r'data-span-id="([0-9a-f]+)"', text)
    assert order == [ROOT.span_id, CHAT.span_id, TOOL.span_id]
    assert "depth-1" in text
    # The first LLM call is selected: its fields, tokens, cost and transcript.
    assert "Span: chat gpt-4o-mini" in text
    assert "Where is my parcel 4417?" in text and "You answer briefly." in text
    assert "get_order_status" in text and "&#34;order&#34;: &#34;4417&#34;" in text
    assert "$0.001234" in text  # cost
    assert "tool_calls" in text  # finish reason
    assert "Cache read" in text and ">100<" in text
    assert "Redacted personal data:</strong> email" in text
    assert 'href="/sessions/conv-7"' in text and 'href="/users/user-42"' in text
    # The trace's log records, linked to their span.
    assert "carrier lookup failed" in text
    assert f"/traces/{TRACE_ID}?span={TOOL.span_id}" in text


def test_choosing_a_span_shows_its_error(ui):
    client, _ = ui
    text = client.get(f"/traces/{TRACE_ID}", params={"span": TOOL.span_id}).text
    assert "Span: execute_tool get_order_status" in text
    assert "TimeoutError" in text and "carrier API down" in text


def test_unknown_ids_are_404_pages(ui):
    client, _ = ui
    for path in ("/traces/nope", "/sessions/nope", "/users/nope"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "not found" in response.text


def test_sessions_list_and_a_session_reading_as_one_conversation(ui):
    client, calls = ui
    listing = client.get("/sessions", params={"user": "user-42"})
    assert listing.status_code == 200
    assert 'href="/sessions/conv-7"' in listing.text
    assert calls.queries["list_sessions"][-1].filter.user == "user-42"
    text = client.get("/sessions/conv-7").text
    positions = [text.index("first question"), text.index("second question")]
    assert positions == sorted(positions)
    assert text.count('class="turn session-trace"') == 2
    # The second call repeats the first one's history: shown once, then what is new.
    assert text.count("Where is my parcel 4417?") == 1
    assert "3 earlier messages not repeated" in text
    assert "Your parcel has shipped." in text and "shipped" in text


def test_users_and_a_user(ui):
    client, _ = ui
    assert 'href="/users/user-42"' in client.get("/users").text
    text = client.get("/users/user-42").text
    assert 'href="/sessions/conv-7"' in text and f'href="/traces/{TRACE_ID}"' in text


def test_logs_filter_by_severity_and_link_to_trace_and_span(ui):
    client, calls = ui
    text = client.get("/logs", params={"min_severity": "error", "service": "support-bot"}).text
    query = calls.queries["list_logs"][-1]
    assert (query.filter.min_severity, query.filter.service) == (17, "support-bot")
    assert "carrier lookup failed" in text
    assert f"/traces/{TRACE_ID}?span={TOOL.span_id}" in text


def test_models_page_carries_chart_series_per_model(ui):
    client, calls = ui
    text = client.get("/models", params={"range": "7d", "interval": "1h"}).text
    query = calls.queries["usage"][-1]
    assert (query.group_by, query.interval) == ("model", "1h")
    assert query.end - query.start >= timedelta(days=7)
    data = json.loads(re.search(r'id="usage-data">(.*?)</script>', text, re.S).group(1))
    assert len(data["x"]) == 3
    assert data["range"] == [int(query.start.timestamp()), int(query.end.timestamp())]
    assert data["keys"][0] == "gpt-4o-mini" or data["keys"][0] == "claude-3-5-sonnet"
    assert set(data["measures"]) == {"requests", "tokens", "cost_usd", "p95_latency_ms"}
    assert data["measures"]["p95_latency_ms"]["data"][0] == [450.0, 451.0, 452.0]
    assert "uPlot.iife.min.js" in text


def test_page_text_is_escaped(monkeypatch):
    stub_service(monkeypatch, traces=[summary(root_name="<script>alert(1)</script>")])
    client, *_ = make_ui()
    sign_in(client)
    text = client.get("/traces").text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def _external_urls(html: str) -> list[str]:
    return [u for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if "//" in u]


def test_docs_and_graphiql_load_nothing_from_other_sites(monkeypatch):
    stub_service(monkeypatch)
    client, *_ = make_ui(graphql_playground=True)
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/ui/vendor/swagger-ui-dist/swagger-ui-bundle.js" in docs.text
    assert _external_urls(docs.text) == []
    assert '"validatorUrl": null' in docs.text  # no call to the online validator
    ide = client.get("/graphql", headers={"accept": "text/html"})
    assert ide.status_code == 200
    assert "/ui/vendor/graphiql/graphiql.min.js" in ide.text
    assert "/ui/vendor/react/umd/react.production.min.js" in ide.text
    assert _external_urls(ide.text) == []


def test_vendor_files_are_only_those_package_json_lists(monkeypatch, tmp_path):
    stub_service(monkeypatch)
    listed = tmp_path / "uplot" / "dist" / "uPlot.iife.min.js"
    listed.parent.mkdir(parents=True)
    listed.write_text("/* uplot */")
    (tmp_path / "uplot" / "package.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("no")
    client, *_ = make_ui(ui_assets_dir=str(tmp_path))
    served = client.get("/ui/vendor/uplot/dist/uPlot.iife.min.js")
    assert served.status_code == 200 and served.text == "/* uplot */"
    assert "max-age" in served.headers["cache-control"]
    for path in ("uplot/package.json", "secret.txt", "../secret.txt", "%2e%2e/secret.txt"):
        assert client.get(f"/ui/vendor/{path}").status_code == 404, path
    # Listed but not fetched (npm ci never ran): a 404, not a 500.
    assert client.get("/ui/vendor/graphiql/graphiql.min.js").status_code == 404


def test_budgets_page_shows_spend_against_limit(monkeypatch, ui):
    from llm_observatory.api import governance

    client, _ = ui

    def budget(name: str, spend: float, limit: float) -> governance.Budget:
        return governance.Budget(
            name=name,
            period="monthly",
            scope="service",
            scope_value="support-bot",
            limit_usd=limit,
            spend_usd=spend,
            used=spend / limit,
            period_start=T0,
            period_end=T0 + timedelta(days=30),
            evaluated_at=T0,
        )

    async def budget_list(state):
        return governance.BudgetList(
            items=[budget("support-monthly", 125.0, 100.0), budget("rag-monthly", 85.0, 100.0)]
        )

    monkeypatch.setattr(governance, "budget_list", budget_list)
    page = client.get("/budgets")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="budget-row ([a-z]+)">', page.text)
    assert rows == ["over", "near"]
    assert "support-monthly" in page.text and "125.0%" in page.text
    assert 'href="/budgets" aria-current="page"' in page.text

    async def none(state):
        return governance.BudgetList(items=[])

    monkeypatch.setattr(governance, "budget_list", none)
    assert "No budgets yet" in client.get("/budgets").text


@pytest.mark.parametrize("path", ["/traces/a%00b", "/sessions/a%00b", "/users/" + "u" * 300])
def test_an_id_the_database_cannot_hold_is_refused_before_any_query(ui, path):
    client, calls = ui
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert not [name for name in calls.queries if name.startswith("get_")]
