"""The playground's example applications: one trace each, as a real LLM app makes them.

Model calls go through the official `openai` client, traced by
opentelemetry-instrumentation-openai-v2; the steps around them (agent, tool,
retrieval, a provider no instrumentation covers) are recorded with this SDK.

Trace shapes (root first):

* chat:       playground chat -> chat {model}
* streaming:  playground streaming -> chat {model} (streamed, usage included)
* rag:        playground rag -> embeddings {embedding model}, retrieval {store}, chat {model}
* agent:      invoke_agent support-agent -> chat {model} (finish: tool_calls)
              -> execute_tool get_order_status -> chat {model}
* manual:     playground manual -> chat claude-3-5-sonnet-20241022 (llm_call, with cache)
* rate-limit: playground rate-limit -> chat {model}-rate-limit, both error (HTTP 429)
* timeout:    playground timeout -> chat {model}-timeout, both error (client timeout)

Every run belongs to a made-up user and conversation (playground/conversations.py): chat and
streaming turns send the conversation's history, and every span carries its ids.
Message content is recorded (the SDK's helpers are told so; the playground turns the
instrumentation's content capture on), so the UI shows real transcripts.
"""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from llm_observatory.playground.conversations import Conversation, Conversations, tag_sessions
from llm_observatory.playground.fake_openai import answer_for
from llm_observatory.sdk import agent, llm_call, retrieval, tool_call
from llm_observatory.sdk.content import error_type

SCENARIOS = ("chat", "streaming", "rag", "agent", "manual", "rate-limit", "timeout")
# Scenarios that only make sense against the built-in fake provider: the real API
# cannot be told to answer 429, and a simulated Anthropic call would put made-up
# costs next to real ones.
FAKE_ONLY = frozenset({"rate-limit", "manual"})
# Scenarios whose trace ends in an error on purpose.
FAILURES = frozenset({"rate-limit", "timeout"})

QUESTIONS = (
    "How do I reset my password?",
    "Where is my order 4417?",
    "Can I change the delivery address after checkout?",
    "What does the premium plan include?",
    "How do I export my data?",
)
DOCUMENTS = (
    ("kb-001", "Passwords are reset from Settings > Security > Reset password."),
    ("kb-002", "Orders can be tracked from the Orders page with their number."),
    ("kb-003", "Delivery addresses can be changed until the parcel ships."),
    ("kb-004", "The premium plan adds priority support and data export."),
)
ORDERS = ("4417", "5120", "6203", "7781")
ORDER_STATES = (("shipped", "DHL"), ("out for delivery", "UPS"), ("being packed", "DHL"))
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_status",
            "description": "Current status of an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "e.g. 4417"}},
                "required": ["order_id"],
            },
        },
    }
]


@dataclass
class Outcome:
    scenario: str
    trace_id: str
    ok: bool
    seconds: float
    error: str | None = None


class Playground:
    """Runs scenarios with one OpenAI client; `run(name)` makes one trace."""

    def __init__(
        self,
        client,  # openai.OpenAI: the playground extra is imported only where it is used
        *,
        fake: bool,
        model: str = "gpt-4o-mini",
        embedding_model: str = "text-embedding-3-small",
        timeout_seconds: float = 0.5,
        tracer_provider: TracerProvider | None = None,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.fake = fake
        self.model = model
        self.embedding_model = embedding_model
        self.timeout_seconds = timeout_seconds
        self.tracer_provider = tracer_provider
        self.tracer = trace.get_tracer(
            "llm_observatory.playground", tracer_provider=tracer_provider
        )
        self.random = random.Random(seed)  # noqa: S311 - made-up questions, not secrets
        self.conversations = Conversations(self.random)
        tag_sessions(tracer_provider or trace.get_tracer_provider())
        self._scenarios: dict[str, Callable[[dict[str, str], Conversation], None]] = {
            "chat": self.chat,
            "streaming": self.streaming,
            "rag": self.rag,
            "agent": self.agent,
            "manual": self.manual,
            "rate-limit": self.rate_limit,
            "timeout": self.timeout,
        }

    def available(self) -> tuple[str, ...]:
        return tuple(name for name in SCENARIOS if self.fake or name not in FAKE_ONLY)

    def run(self, name: str) -> Outcome:
        """One trace of scenario `name`; a provider error is an outcome, not an exception."""
        started = time.perf_counter()
        holder: dict[str, str] = {}
        try:
            with self.conversations.turn() as conversation:
                holder["conversation"] = conversation.session_id
                self._scenarios[name](holder, conversation)
        except Exception as exc:  # the app's own error handling: log, count, carry on
            return Outcome(
                name,
                holder.get("trace_id", ""),
                False,
                time.perf_counter() - started,
                error_type(exc),
            )
        return Outcome(name, holder["trace_id"], True, time.perf_counter() - started)

    # ------------------------------------------------------------------ helpers

    def _root(self, name: str, holder: dict[str, str]):
        return _Root(self.tracer, f"playground {name}", holder)

    def _question(self) -> str:
        return self.random.choice(QUESTIONS)

    # ---------------------------------------------------------------- scenarios

    def _chat_turn(self, conversation: Conversation, system: str | None = None) -> list[dict]:
        """The messages of a chat turn: the conversation so far, then a new question."""
        question = {"role": "user", "content": self._question()}
        system_message = [{"role": "system", "content": system}] if system else []
        return [*system_message, *conversation.history, question]

    def chat(self, holder: dict[str, str], conversation: Conversation) -> None:
        with self._root("chat", holder):
            messages = self._chat_turn(conversation, "You answer customer questions briefly.")
            answer = self.client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.2, max_tokens=200
            )
            reply = answer.choices[0].message.content or ""
            conversation.remember(messages[-1], {"role": "assistant", "content": reply})

    def streaming(self, holder: dict[str, str], conversation: Conversation) -> None:
        with self._root("streaming", holder):
            messages = self._chat_turn(conversation)
            stream = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            # The chat span ends when the stream is consumed.
            reply = "".join(
                chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices
            )
            conversation.remember(messages[-1], {"role": "assistant", "content": reply})

    def rag(self, holder: dict[str, str], conversation: Conversation) -> None:
        question = self._question()
        with self._root("rag", holder):
            embedded = self.client.embeddings.create(model=self.embedding_model, input=question)
            vector = embedded.data[0].embedding
            with retrieval(
                "support-kb",
                top_k=2,
                query=question,
                capture_content=True,
                tracer_provider=self.tracer_provider,
            ) as step:
                found = _nearest(vector, k=2)
                step.set_documents([{"id": doc_id, "score": score} for doc_id, score, _ in found])
            context = "\n".join(text for _, _, text in found)
            self.client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": f"Answer from these notes:\n{context}"},
                    {"role": "user", "content": question},
                ],
            )

    def agent(self, holder: dict[str, str], conversation: Conversation) -> None:
        with agent(
            "support-agent",
            provider="openai",
            model=self.model,
            conversation_id=conversation.session_id,
            tracer_provider=self.tracer_provider,
        ) as run:
            holder["trace_id"] = _trace_id(run.span)
            order = self.random.choice(ORDERS)
            messages: list[dict] = [
                {"role": "system", "content": "You are a support agent. Use tools for orders."},
                {"role": "user", "content": f"Where is my order {order}?"},
            ]
            first = self.client.chat.completions.create(
                model=self.model, messages=messages, tools=TOOLS
            )
            message = first.choices[0].message
            messages.append(message.model_dump(exclude_none=True))
            for call in message.tool_calls or []:
                arguments = json.loads(call.function.arguments or "{}")
                with tool_call(
                    call.function.name,
                    call_id=call.id,
                    arguments=arguments,
                    capture_content=True,
                    tracer_provider=self.tracer_provider,
                ) as step:
                    result = _get_order_status(**arguments)
                    step.set_result(result)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                )
            self.client.chat.completions.create(model=self.model, messages=messages, tools=TOOLS)

    def manual(self, holder: dict[str, str], conversation: Conversation) -> None:
        # A provider no instrumentation covers, recorded by hand (simulated answer).
        question = self._question()
        with (
            self._root("manual", holder),
            llm_call(
                provider="anthropic",
                model="claude-3-5-sonnet-20241022",
                input_messages=[{"role": "user", "content": question}],
                max_tokens=512,
                capture_content=True,
                tracer_provider=self.tracer_provider,
            ) as call,
        ):
            time.sleep(self.random.uniform(0.02, 0.1))
            call.set_usage(input_tokens=1200, output_tokens=150, cache_read_tokens=800)
            call.set_response(
                model="claude-3-5-sonnet-20241022",
                id=f"msg_{self.random.getrandbits(64):016x}",
                finish_reasons=["end_turn"],
            )
            call.set_output_messages([{"role": "assistant", "content": answer_for(question)}])

    def rate_limit(self, holder: dict[str, str], conversation: Conversation) -> None:
        with self._root("rate-limit", holder):
            self.client.chat.completions.create(
                model=f"{self.model}-rate-limit",
                messages=[{"role": "user", "content": self._question()}],
            )

    def timeout(self, holder: dict[str, str], conversation: Conversation) -> None:
        model = f"{self.model}-timeout" if self.fake else self.model
        # Against the real API a timeout far below any answer time makes the failure.
        seconds = self.timeout_seconds if self.fake else 0.001
        with self._root("timeout", holder):
            self.client.with_options(timeout=seconds).chat.completions.create(
                model=model, messages=[{"role": "user", "content": self._question()}]
            )


class _Root:
    """The scenario's root span; an exception leaving it is recorded with error.type."""

    def __init__(self, tracer, name: str, holder: dict[str, str]) -> None:
        self.manager = tracer.start_as_current_span(
            name, kind=SpanKind.INTERNAL, record_exception=False, set_status_on_exception=False
        )
        self.holder = holder

    def __enter__(self) -> Span:
        span = self.manager.__enter__()
        self.holder["trace_id"] = _trace_id(span)
        self.span = span
        return span

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc is not None:
            self.span.set_attribute("error.type", error_type(exc))
            self.span.set_status(Status(StatusCode.ERROR, str(exc)))
            self.span.record_exception(exc)
        self.manager.__exit__(exc_type, exc, tb)


def _trace_id(span: Span) -> str:
    return format(span.get_span_context().trace_id, "032x")


def _toy_vector(text: str) -> list[float]:
    seed = zlib.crc32(text.encode())
    return [((seed >> shift) & 0xFF) / 255 for shift in range(0, 32, 4)]


_INDEX = [(doc_id, _toy_vector(text), text) for doc_id, text in DOCUMENTS]


def _nearest(vector: list[float], k: int) -> list[tuple[str, float, str]]:
    def cosine(a: list[float], b: list[float]) -> float:
        size = min(len(a), len(b))
        dot = sum(a[i] * b[i] for i in range(size))
        norm = math.sqrt(sum(x * x for x in a[:size])) * math.sqrt(sum(x * x for x in b[:size]))
        return dot / norm if norm else 0.0

    scored = sorted(
        ((doc_id, cosine(vector, doc_vector), text) for doc_id, doc_vector, text in _INDEX),
        key=lambda item: item[1],
        reverse=True,
    )
    return scored[:k]


def _get_order_status(order_id: str = "4417", **_: object) -> dict[str, str]:
    status, carrier = ORDER_STATES[sum(map(ord, order_id)) % len(ORDER_STATES)]
    return {"order": order_id, "status": status, "carrier": carrier}
