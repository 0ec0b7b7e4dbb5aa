"""What the playground's traces carry: message content, sessions and users, plausible
answers and tool calls. The real openai client and its instrumentation run against
FakeOpenAI in-process, exporting to memory."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

pytest.importorskip("openai")

from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from llm_observatory.playground.conversations import USERS, Conversations
from llm_observatory.playground.fake_openai import ANSWERS, FakeOpenAI, answer_for
from llm_observatory.playground.instrumentation import INSTRUMENTATION_DEFAULTS, openai_client
from llm_observatory.playground.scenarios import QUESTIONS, SCENARIOS, Playground


@pytest.fixture(scope="module")
def spans():
    """Every scenario twice, then chat turns; finished spans grouped by trace id."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in INSTRUMENTATION_DEFAULTS.items():
            env.setenv(key, value)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=provider, meter_provider=MeterProvider())
        try:
            with FakeOpenAI(timeout_seconds=0.3) as fake:
                playground = Playground(
                    openai_client("sk-test", fake.base_url),
                    fake=True,
                    tracer_provider=provider,
                    timeout_seconds=0.1,
                    seed=7,
                )
                runs = (*SCENARIOS, *SCENARIOS, *("chat",) * 12)
                outcomes = [playground.run(name) for name in runs]
        finally:
            instrumentor.uninstrument()
    by_trace = defaultdict(list)
    for span in exporter.get_finished_spans():
        by_trace[format(span.context.trace_id, "032x")].append(span)
    return outcomes, by_trace


def attrs(span) -> dict:
    return dict(span.attributes or {})


def test_every_span_of_a_run_carries_its_session_and_user(spans):
    outcomes, by_trace = spans
    sessions = set()
    for outcome in outcomes:
        trace = by_trace[outcome.trace_id]
        assert trace, outcome
        ids = {(attrs(s).get("gen_ai.conversation.id"), attrs(s).get("user.id")) for s in trace}
        assert len(ids) == 1, (outcome.scenario, ids)
        session, user = ids.pop()
        assert session and session.startswith("conv-") and user in USERS
        sessions.add(session)
    assert 1 < len(sessions) < len(outcomes)  # conversations span several traces


def test_chat_calls_record_their_messages(spans):
    _, by_trace = spans
    chats = [s for t in by_trace.values() for s in t if s.name == "chat gpt-4o-mini"]
    assert chats
    for span in chats:
        inputs = json.loads(attrs(span)["gen_ai.input.messages"])
        outputs = json.loads(attrs(span)["gen_ai.output.messages"])
        assert inputs[-1]["role"] in {"user", "tool"}
        assert outputs[0]["role"] == "assistant" and outputs[0]["parts"]


def test_a_later_turn_sends_the_conversation_so_far(spans):
    outcomes, by_trace = spans
    by_session = defaultdict(list)
    for outcome in outcomes:
        if outcome.scenario in {"chat", "streaming"}:
            span = next(s for s in by_trace[outcome.trace_id] if s.name == "chat gpt-4o-mini")
            by_session[attrs(span)["gen_ai.conversation.id"]].append(span)
    follow_ups = [calls for calls in by_session.values() if len(calls) > 1]
    assert follow_ups, "no conversation had two chat turns (seed 7)"
    first, second = follow_ups[0][:2]
    asked = json.loads(attrs(first)["gen_ai.input.messages"])[-1]
    answered = json.loads(attrs(first)["gen_ai.output.messages"])[0]
    history = json.loads(attrs(second)["gen_ai.input.messages"])
    texts = [part.get("content") for m in history for part in m.get("parts", [])]
    assert asked["parts"][0]["content"] in texts
    assert answered["parts"][0]["content"] in texts


def test_the_agent_calls_its_tool_with_the_order_from_the_question(spans):
    outcomes, by_trace = spans
    for outcome in (o for o in outcomes if o.scenario == "agent"):
        trace = by_trace[outcome.trace_id]
        first_chat = min(
            (s for s in trace if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_time
        )
        question = json.loads(attrs(first_chat)["gen_ai.input.messages"])[-1]["parts"][0]
        order = question["content"].rsplit(" ", 1)[1].rstrip("?")
        tool = next(s for s in trace if s.name == "execute_tool get_order_status")
        assert json.loads(attrs(tool)["gen_ai.tool.call.arguments"]) == {"order_id": order}
        result = json.loads(attrs(tool)["gen_ai.tool.call.result"])
        assert result["order"] == order
        last_chat = max(
            (s for s in trace if s.name == "chat gpt-4o-mini"), key=lambda s: s.start_time
        )
        answer = json.loads(attrs(last_chat)["gen_ai.output.messages"])[0]["parts"][0]
        assert answer["content"].startswith(f"Order {order} is {result['status']}")


def test_the_hand_recorded_call_carries_content_too(spans):
    _, by_trace = spans
    manual = [s for t in by_trace.values() for s in t if s.name.startswith("chat claude")]
    assert manual
    assert all("gen_ai.input.messages" in attrs(s) for s in manual)
    assert all("gen_ai.output.messages" in attrs(s) for s in manual)


@pytest.mark.parametrize("question", QUESTIONS)
def test_each_question_gets_an_answer_on_its_topic(question):
    answer = answer_for(question)
    matching = next(a for words, a in ANSWERS if any(w in question.lower() for w in words))
    assert answer == matching


def test_retrieval_answers_quote_the_most_relevant_note():
    fake = FakeOpenAI()
    try:
        answer = fake.answer(
            [
                {
                    "role": "system",
                    "content": "Answer from these notes:\nA about cats.\nB: reset "
                    "your password from Settings.",
                },
                {"role": "user", "content": "How do I reset my password?"},
            ]
        )
    finally:
        fake.stop()
    assert answer == "According to our help centre: B: reset your password from Settings."


def test_a_conversation_is_used_by_one_run_at_a_time():
    import random

    conversations = Conversations(random.Random(1))
    held = [conversations.checkout() for _ in range(len(USERS) * 3)]
    ids = [c.session_id for c in held]
    assert len(ids) == len(set(ids))  # nothing handed out twice while in use
    for conversation in held:
        conversation.turns_left = 5
        conversations.checkin(conversation)
    again = conversations.checkout()
    assert again.session_id in ids  # a checked-in conversation goes on


def test_the_playground_command_tags_the_instrumentations_spans_too(monkeypatch, capsys):
    """main() builds its providers after the scenarios: the ids must still reach them."""
    from types import SimpleNamespace

    from opentelemetry.sdk._logs import LoggerProvider

    from llm_observatory.playground import main as playground

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = SimpleNamespace(
        tracer_provider=provider,
        meter_provider=MeterProvider(),
        logger_provider=LoggerProvider(),
        endpoints={"traces": "memory"},
        shutdown=lambda: None,
    )
    monkeypatch.setattr(playground, "configure", lambda **_: telemetry)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert playground.main(["--once", "--scenarios", "chat"]) == 0
    chat = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o-mini"]
    assert chat and attrs(chat[0])["gen_ai.conversation.id"].startswith("conv-")
    assert attrs(chat[0])["user.id"] in USERS
