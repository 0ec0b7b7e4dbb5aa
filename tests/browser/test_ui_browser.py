"""The web UI in a real browser against the test stack, over data this module seeds.

Seeded through storage's own writers under names no other test uses (a random tag
in every service, model, session and user), so each assertion is exact although
other tests write to the same database: five traces of one session and user, each
an agent run with a chat call that carries messages, a tool call, and a log record.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from llm_observatory.core.records import LogRecordRow, SpanRecord
from llm_observatory.storage.writer import LogRecordWriter, SpanWriter
from tests.support.browser import axe_violations, sign_in

pytestmark = [pytest.mark.docker, pytest.mark.stack]

TAG = uuid.uuid4().hex[:8]
SERVICE = f"uitest-{TAG}"
MODEL_A, MODEL_B = f"gpt-uitest-{TAG}", f"claude-uitest-{TAG}"
SESSION, USER = f"conv-ui-{TAG}", f"user-ui-{TAG}"
SEARCH_WORD = f"zebra{TAG}"
QUESTIONS = [
    "How do I reset my password?",
    f"Where is the {SEARCH_WORD} parcel I ordered?",
    "Can I change the delivery address?",
    "What does the premium plan include?",
    "How do I export my data?",
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BASE = datetime.now(UTC) - timedelta(minutes=30)


def ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def build_seed() -> tuple[list[SpanRecord], list[LogRecordRow], list[str]]:
    spans: list[SpanRecord] = []
    logs: list[LogRecordRow] = []
    trace_ids = []
    history: list[dict] = []
    for i, question in enumerate(QUESTIONS):
        trace_id = uuid.uuid4().hex
        trace_ids.append(trace_id)
        start = BASE + timedelta(minutes=2 * i)
        root = uuid.uuid4().hex[:16]
        chat = uuid.uuid4().hex[:16]
        model = MODEL_A if i % 2 == 0 else MODEL_B
        answer = f"Answer {i}: see the help centre."
        messages = [*history, {"role": "user", "parts": [{"type": "text", "content": question}]}]
        common = {"trace_id": trace_id, "service_name": SERVICE}
        spans += [
            SpanRecord(
                **common,
                span_id=root,
                parent_span_id=None,
                name=f"support turn {i}",
                kind="server",
                start_time_unix_nano=ns(start),
                end_time_unix_nano=ns(start + timedelta(milliseconds=900)),
            ),
            SpanRecord(
                **common,
                span_id=chat,
                parent_span_id=root,
                name=f"chat {model}",
                kind="client",
                start_time_unix_nano=ns(start + timedelta(milliseconds=50)),
                end_time_unix_nano=ns(start + timedelta(milliseconds=650)),
                is_llm=True,
                provider="openai" if model == MODEL_A else "anthropic",
                operation="chat",
                request_model=model,
                response_model=model,
                model=model,
                input_tokens=300 + i,
                output_tokens=40 + i,
                total_tokens=340 + 2 * i,
                cost_usd=0.0021 + i / 10_000,
                conversation_id=SESSION,
                user_id=USER,
                input_messages=messages,
                output_messages=[
                    {
                        "role": "assistant",
                        "finish_reason": "stop",
                        "parts": [{"type": "text", "content": answer}],
                    }
                ],
                attributes={"gen_ai.response.finish_reasons": ["stop"]},
            ),
            SpanRecord(
                **common,
                span_id=uuid.uuid4().hex[:16],
                parent_span_id=chat,
                name="execute_tool lookup",
                kind="internal",
                start_time_unix_nano=ns(start + timedelta(milliseconds=100)),
                end_time_unix_nano=ns(start + timedelta(milliseconds=300)),
            ),
        ]
        logs.append(
            LogRecordRow(
                time_unix_nano=ns(start + timedelta(milliseconds=200)),
                service_name=SERVICE,
                severity_number=17 if i == 1 else 9,
                severity_text="ERROR" if i == 1 else "INFO",
                body=f"turn {i} handled for {TAG}",
                trace_id=trace_id,
                span_id=chat,
            )
        )
        history = [*messages, {"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
    return spans, logs, trace_ids


async def _write(url: str, spans: list[SpanRecord], logs: list[LogRecordRow]) -> None:
    async with AsyncConnectionPool(url, min_size=1, max_size=1, open=False) as pool:
        assert await SpanWriter(pool).write(spans) == len(spans)
        assert await LogRecordWriter(pool).write(logs) == len(logs)


@pytest.fixture(scope="module")
def seeded(stack) -> list[str]:
    spans, logs, trace_ids = build_seed()
    # In a thread of its own: Playwright's sync API keeps an event loop on this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _write(stack.database_url(), spans, logs)).result()
    return trace_ids


def trace_rows(page):
    return page.locator("tr.trace-row")


def test_a_page_without_a_session_redirects_to_login(base_url, page, traffic):
    response = httpx.get(f"{base_url}/sessions?user=x", follow_redirects=False, timeout=10)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fsessions%3Fuser%3Dx"
    page.goto("/traces")
    assert page.url.endswith("/login?next=%2Ftraces")
    assert page.get_by_role("heading", name="Sign in").is_visible()
    assert traffic.blocked == [] and traffic.console_errors == []


def test_wrong_password_stays_on_the_login_page(page, credentials):
    page.goto("/login")
    page.get_by_label("User name").fill(credentials[0])
    page.get_by_label("Password").fill(credentials[1] + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    page.goto("/traces")
    assert "/login" in page.url


def test_traces_list_shows_the_seeded_traces_and_a_model_filter_narrows_it(
    page, credentials, seeded, traffic
):
    sign_in(page, *credentials, f"/traces?service={SERVICE}")
    assert trace_rows(page).count() == len(QUESTIONS)
    shown = page.locator("tr.trace-row a").evaluate_all("links => links.map(a => a.href)")
    assert {href.rsplit("/", 1)[1] for href in shown} == set(seeded)
    # Pick the model from the form's list (the choices are cached for a few seconds).
    deadline = time.monotonic() + 45
    while page.locator(f'#model option:text-is("{MODEL_B}")').count() == 0:
        assert time.monotonic() < deadline, "the new model never appeared in the filter"
        time.sleep(2)
        page.reload()
    page.get_by_label("Model").select_option(MODEL_B)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(f"model={MODEL_B}"))
    assert trace_rows(page).count() == 2  # turns 1 and 3
    assert traffic.blocked == [] and traffic.console_errors == []


def test_searching_a_word_from_one_prompt_finds_that_trace(user_page, seeded):
    page = user_page
    page.goto("/traces")
    page.get_by_label("Search prompts and completions").fill(SEARCH_WORD)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(f"q={SEARCH_WORD}"))
    # The question of turn 1; later turns carry it in their history too.
    hrefs = page.locator("tr.trace-row a").evaluate_all("links => links.map(a => a.href)")
    found = {href.rsplit("/", 1)[1] for href in hrefs}
    assert seeded[1] in found
    assert seeded[0] not in found


def test_a_trace_shows_one_waterfall_row_per_span_and_the_llm_calls_transcript(
    user_page, seeded, traffic
):
    page = user_page
    page.goto(f"/traces/{seeded[2]}")
    rows = page.locator("tr.waterfall-row")
    assert rows.count() == 3
    names = rows.locator("td.span-name a").all_inner_texts()
    assert names == ["support turn 2", f"chat {MODEL_A}", "execute_tool lookup"]
    assert "depth-2" in (rows.nth(2).locator("td.span-name").get_attribute("class") or "")
    detail = page.locator("#span-detail")
    assert detail.get_by_role("heading", name=f"Span: chat {MODEL_A}").is_visible()
    transcript = detail.locator("ol.transcript")
    assert transcript.locator("li.role-user").first.inner_text().endswith(QUESTIONS[0])
    assert QUESTIONS[2] in transcript.inner_text()
    last_answer = transcript.locator("li.role-assistant").last.inner_text()
    assert "Answer 2: see the help centre." in last_answer
    assert detail.locator("dd.cost").inner_text() == "$0.0023"
    assert "turn 2 handled" in page.locator("table.logs").inner_text()
    # Choosing another span shows that span.
    rows.nth(2).locator("td.span-name a").click()
    detail.get_by_role("heading", name="Span: execute_tool lookup").wait_for()
    assert traffic.blocked == [] and traffic.console_errors == []


def test_a_session_page_shows_its_traces_in_order(user_page, seeded):
    page = user_page
    page.goto(f"/sessions/{SESSION}")
    turns = page.locator("li.session-trace")
    assert turns.count() == len(QUESTIONS)
    assert [turns.nth(i).get_attribute("data-trace-id") for i in range(turns.count())] == seeded
    text = page.locator("ol.conversation").inner_text()
    positions = [text.index(question) for question in QUESTIONS]
    assert positions == sorted(positions)
    assert text.count(QUESTIONS[0]) == 1  # the history is not repeated turn after turn
    page.get_by_role("link", name=USER).first.click()
    page.get_by_role("heading", name=f"User {USER}").wait_for()


def test_logs_link_to_their_trace(user_page, seeded):
    page = user_page
    page.goto(f"/logs?service={SERVICE}&min_severity=error")
    rows = page.locator("tr.log-row")
    assert rows.count() == 1
    rows.first.get_by_role("link").click()
    page.wait_for_url(re.compile(seeded[1]))
    assert page.locator("tr.waterfall-row.selected").count() == 1


def test_sign_out_returns_to_the_login_page(page, credentials):
    sign_in(page, *credentials)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile("/login"))
    assert page.get_by_role("status").inner_text() == "You are signed out."
    page.goto("/traces")
    assert "/login" in page.url


PAGES = [
    "/login",
    "/traces",
    "/traces/{trace}",
    "/sessions",
    "/sessions/{session}",
    "/users",
    "/users/{user}",
    "/logs",
    "/models",
    "/budgets",
]


@pytest.mark.parametrize("path", PAGES)
def test_no_serious_accessibility_violations(page, user_page, seeded, axe_source, path, traffic):
    if path != "/login":
        page = user_page
    page.goto(path.format(trace=seeded[0], session=SESSION, user=USER))
    page.wait_for_load_state("networkidle")
    assert axe_violations(page, axe_source) == []
    assert traffic.blocked == [] and traffic.console_errors == []


def test_models_page_draws_its_charts(user_page, seeded, traffic):
    page = user_page
    page.goto("/models?range=1h&interval=1m")
    page.wait_for_load_state("networkidle")
    assert page.locator("figure.chart canvas").count() == 4
    assert traffic.blocked == [] and traffic.console_errors == []


def test_docs_show_the_api_operations_without_internet(page, traffic):
    page.goto("/docs")
    page.wait_for_load_state("networkidle")
    page.locator(".opblock").first.wait_for()
    text = page.locator("#swagger-ui").inner_text()
    assert "/api/v1/traces" in text and "/api/v1/sessions" in text
    assert traffic.blocked == []


def test_graphiql_renders_without_internet(page, traffic):
    page.goto("/graphql", wait_until="networkidle")
    page.locator(".graphiql-container").first.wait_for()
    assert page.locator(".graphiql-editor").count() >= 1
    assert "Loading" not in page.locator("#graphiql").inner_text()[:50]
    assert traffic.blocked == []
