"""The playground's scenarios produce the trace shapes they claim, stored by the stack.

Each scenario runs once in-process (official openai client + its instrumentation,
against FakeOpenAI), exports to the test stack's collector, and its trace is read
back from `spans` by trace id. The compose service is started once as well.
"""

from __future__ import annotations

import time
import uuid

import pytest

from llm_observatory.playground.fake_openai import FakeOpenAI
from llm_observatory.playground.instrumentation import (
    INSTRUMENTATION_DEFAULTS,
    instrument_openai,
    openai_client,
)
from llm_observatory.playground.scenarios import SCENARIOS, Playground
from llm_observatory.sdk import configure

pytest.importorskip("openai")


@pytest.fixture(scope="module")
def outcomes(stack):
    """scenario -> (Outcome, service name): every scenario run once, exported, flushed."""
    service = f"playground-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as env:
        for key, value in INSTRUMENTATION_DEFAULTS.items():
            env.setenv(key, value)
        telemetry = configure(
            service_name=service,
            endpoint=f"127.0.0.1:{stack.port('collector', 4317)}",
            set_global=False,
        )
        instrumentor = instrument_openai(telemetry)
        try:
            with FakeOpenAI(timeout_seconds=1.0) as fake:
                playground = Playground(
                    openai_client("sk-test-not-a-real-key", fake.base_url),
                    fake=True,
                    tracer_provider=telemetry.tracer_provider,
                    seed=1,
                )
                results = {name: playground.run(name) for name in SCENARIOS}
        finally:
            instrumentor.uninstrument()
            telemetry.shutdown()
    return results, service


def trace(db, trace_id: str) -> dict[str, dict]:
    """span name -> row, plus '_root' for the parentless span; names are unique per trace
    except the agent's two chat calls, listed under 'chat …#1' and 'chat …#2'."""
    cur = db.execute("SELECT * FROM spans WHERE trace_id = %s ORDER BY start_time", (trace_id,))
    names = [column.name for column in cur.description]
    found: dict[str, dict] = {}
    for values in cur.fetchall():
        row = dict(zip(names, values, strict=True))
        key = row["name"]
        if key in found or f"{key}#1" in found:
            if key in found:
                found[f"{key}#1"] = found.pop(key)
            key = f"{key}#2"
        found[key] = row
        if row["parent_span_id"] is None:
            assert "_root" not in found, "two root spans in one trace"
            found["_root"] = row
    return found


def assert_child(child: dict, parent: dict) -> None:
    assert child["parent_span_id"] == parent["span_id"], (child["name"], parent["name"])


def assert_chat(row: dict, *, tokens: bool = True, model: str = "gpt-4o-mini") -> None:
    assert row["kind"] == "client" and row["is_llm"] is True
    assert (row["provider"], row["operation"], row["request_model"]) == ("openai", "chat", model)
    if tokens:
        assert (row["input_tokens"], row["output_tokens"]) == (321, 45)
        assert row["model"] == "gpt-4o-mini-2024-07-18"
        assert row["cost_usd"] > 0


def test_every_scenario_ran_as_intended(outcomes):
    results, _ = outcomes
    assert {name: outcome.ok for name, outcome in results.items()} == {
        "chat": True,
        "streaming": True,
        "rag": True,
        "agent": True,
        "manual": True,
        "rate-limit": False,
        "timeout": False,
    }
    assert results["rate-limit"].error == "RateLimitError"
    assert results["timeout"].error == "APITimeoutError"


def test_chat(outcomes, db):
    spans = trace(db, outcomes[0]["chat"].trace_id)
    assert set(spans) == {"_root", "playground chat", "chat gpt-4o-mini"}
    chat = spans["chat gpt-4o-mini"]
    assert_child(chat, spans["playground chat"])
    assert_chat(chat)
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert chat["input_messages"], "content capture is on in the playground"
    assert chat["service_name"] == outcomes[1]


def test_streaming(outcomes, db):
    spans = trace(db, outcomes[0]["streaming"].trace_id)
    assert set(spans) == {"_root", "playground streaming", "chat gpt-4o-mini"}
    assert_child(spans["chat gpt-4o-mini"], spans["playground streaming"])
    assert_chat(spans["chat gpt-4o-mini"])  # usage from the stream's last chunk


def test_rag_has_embedding_retrieval_and_chat_under_one_root(outcomes, db):
    spans = trace(db, outcomes[0]["rag"].trace_id)
    root = spans["playground rag"]
    embedding = spans["embeddings text-embedding-3-small"]
    retrieval = spans["retrieval support-kb"]
    chat = spans["chat gpt-4o-mini"]
    for child in (embedding, retrieval, chat):
        assert_child(child, root)
    assert embedding["start_time"] <= retrieval["start_time"] <= chat["start_time"]
    assert (embedding["operation"], embedding["is_llm"], embedding["input_tokens"]) == (
        "embeddings",
        True,
        321,
    )
    assert (retrieval["operation"], retrieval["is_llm"]) == ("retrieval", False)
    assert retrieval["attributes"]["gen_ai.data_source.id"] == "support-kb"
    assert retrieval["attributes"]["gen_ai.retrieval.documents.count"] == 2
    assert_chat(chat)


def test_agent_calls_a_tool_between_two_chats(outcomes, db):
    spans = trace(db, outcomes[0]["agent"].trace_id)
    root = spans["_root"]
    assert root["name"] == "invoke_agent support-agent"
    assert (root["operation"], root["is_llm"]) == ("invoke_agent", False)
    first, second = spans["chat gpt-4o-mini#1"], spans["chat gpt-4o-mini#2"]
    tool = spans["execute_tool get_order_status"]
    for child in (first, tool, second):
        assert_child(child, root)
    assert first["start_time"] < tool["start_time"] < second["start_time"]
    assert first["attributes"]["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert second["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert (tool["operation"], tool["is_llm"], tool["kind"]) == ("execute_tool", False, "internal")
    assert tool["attributes"]["gen_ai.tool.call.id"].startswith("call_")
    assert_chat(first)
    assert_chat(second)


def test_manual_llm_call_for_an_uninstrumented_provider(outcomes, db):
    spans = trace(db, outcomes[0]["manual"].trace_id)
    call = spans["chat claude-3-5-sonnet-20241022"]
    assert_child(call, spans["playground manual"])
    assert (call["provider"], call["model"], call["input_tokens"], call["cache_read_tokens"]) == (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        1200,
        800,
    )
    assert call["cost_usd"] > 0


@pytest.mark.parametrize(
    ("scenario", "error"), [("rate-limit", "RateLimitError"), ("timeout", "APITimeoutError")]
)
def test_failures_are_errors_on_the_call_and_its_root(outcomes, db, scenario, error):
    spans = trace(db, outcomes[0][scenario].trace_id)
    root = spans[f"playground {scenario}"]
    call = spans[f"chat gpt-4o-mini-{scenario}"]
    assert_child(call, root)
    assert_chat(call, tokens=False, model=f"gpt-4o-mini-{scenario}")
    for row in (root, call):
        assert row["status_code"] == "error", row["name"]
        assert row["attributes"]["error.type"] == error, row["name"]
    assert call["input_tokens"] is None and call["cost_usd"] is None


def test_the_compose_service_fills_the_database(stack, db, monkeypatch):
    """sdk-playground (profile playground) starts healthy and its traces arrive."""
    monkeypatch.setenv("PLAYGROUND_RATE", "5")
    before = time.time()
    stack.compose(
        "--profile", "playground", "up", "--detach", "--build", "--wait", "sdk-playground"
    )
    try:
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while time.monotonic() < deadline:
            names = {
                name
                for (name,) in db.execute(
                    "SELECT DISTINCT name FROM spans WHERE service_name ="
                    " 'llm-observatory-playground' AND start_time > to_timestamp(%s)",
                    (before,),
                )
            }
            if {"invoke_agent support-agent", "chat gpt-4o-mini-timeout"} <= names:
                break
            time.sleep(1)
        assert {
            "playground chat",
            "retrieval support-kb",
            "execute_tool get_order_status",
            "chat gpt-4o-mini-rate-limit",
            "chat gpt-4o-mini-timeout",
        } <= names, names
        assert stack.service_health()["sdk-playground"] == "healthy"
    finally:
        stack.compose("--profile", "playground", "rm", "--stop", "--force", "sdk-playground")
