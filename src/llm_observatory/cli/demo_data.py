"""Realistic demo data: conversations of LLM agent traces, with their messages and logs.

One builder for `llm-observatory seed`, the API benchmark and tests. It makes stored
rows as the collector would have left them, filling the LLM columns directly (model,
tokens, cost from a small price table, messages in the OTel GenAI form), so it needs
nothing of the collector:

* sessions: a conversation id and a user, 1-8 turns some seconds to minutes apart;
  each turn is one trace;
* a trace: an `invoke_agent` root; for the RAG service an embedding call and a vector
  search; a chat call whose input is the system prompt, the last turns and the user's
  prompt; often a tool call (arguments, then the tool's result in a second chat call);
* some failures: rate limits, overloads, timeouts, tool errors, each with a status
  message and an exception event;
* log records of the application, each with its trace and span id.

Deterministic: the same seed gives the same ids, texts, times (relative to `end_ns`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from llm_observatory.cli import demo_text as text
from llm_observatory.cli.demo_models import (
    CHAT_MODELS,
    EMBEDDING,
    LLM_ERRORS,
    TOOL_ERRORS,
    Model,
    cost,
    tokens_of,
)
from llm_observatory.core.records import LogRecordRow, SpanRecord

NS = 1_000_000_000
MS = 1_000_000
SCOPE = "llm_observatory.demo"
PII_MARK = "[REDACTED:email]"
_WEIGHTS = [m.weight for m in CHAT_MODELS]
SERVICES = tuple(text.SYSTEM_PROMPTS)


def message(role: str, *parts: dict) -> dict:
    return {"role": role, "parts": list(parts)}


def text_part(content: str) -> dict:
    return {"type": "text", "content": content}


@dataclass
class Trace:
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecordRow] = field(default_factory=list)


@dataclass
class _Session:
    service: str
    user: str
    conversation: str
    history: list[dict] = field(default_factory=list)


class DemoData:
    """Deterministic (given the seed) traces with messages, sessions, errors and logs."""

    def __init__(
        self,
        seed: int = 42,
        days: float = 7,
        end_ns: int | None = None,
        service_suffix: str = "",
        users: int = 400,
    ) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, reproducible by design
        self.end_ns = end_ns if end_ns is not None else time.time_ns()
        self.window_ns = int(days * 86400 * NS)
        self.suffix = service_suffix
        self.users = users

    def _id(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    # --- the stream ---------------------------------------------------------------------

    def traces(self) -> Iterator[Trace]:
        """Traces forever, a session's turns one after another."""
        rng = self.rng
        while True:
            service = rng.choice(SERVICES)
            # A few heavy users and a long tail, as in a real product.
            heavy = rng.random() < 0.3
            user = f"user-{rng.randrange(20 if heavy else self.users):04d}"
            session = _Session(service + self.suffix, user, f"conv-{self._id(64)}")
            start = self.end_ns - rng.randrange(self.window_ns)
            for _ in range(rng.choices((1, 2, 3, 4, 6, 8), (25, 25, 20, 15, 10, 5))[0]):
                if start >= self.end_ns - NS:
                    break
                trace = self._turn(session, start)
                yield trace
                end = max(s.end_time_unix_nano for s in trace.spans)
                start = end + int(rng.lognormvariate(math.log(40), 1.0) * NS)

    def spans(self, count: int) -> Iterator[SpanRecord]:
        """Exactly `count` spans (the logs left out): whole traces, the last cut short."""
        for spans, _ in self.batches(count, count):
            yield from spans

    def batches(
        self, count: int, batch_size: int
    ) -> Iterator[tuple[list[SpanRecord], list[LogRecordRow]]]:
        """`count` spans in batches of about `batch_size`, with their traces' logs."""
        spans: list[SpanRecord] = []
        logs: list[LogRecordRow] = []
        left = count
        for trace in self.traces():
            taken = trace.spans[:left]
            kept = {s.span_id for s in taken}
            spans += taken
            logs += [log for log in trace.logs if log.span_id in kept]
            left -= len(taken)
            if len(spans) >= batch_size or left == 0:
                yield spans, logs
                spans, logs = [], []
            if left == 0:
                return

    # --- one trace ----------------------------------------------------------------------

    def _span(
        self, trace: Trace, name: str, kind: str, start: int, end: int, attributes: dict
    ) -> SpanRecord:
        """A child of the trace's root."""
        root = trace.spans[0]
        span = SpanRecord(
            trace_id=root.trace_id,
            span_id=self._id(64),
            parent_span_id=root.span_id,
            name=name,
            kind=kind,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            status_code="ok",
            service_name=root.service_name,
            scope_name=SCOPE,
            attributes=attributes,
            resource_attributes=root.resource_attributes,
            operation=attributes.get("gen_ai.operation.name"),
            conversation_id=root.conversation_id,
            user_id=root.user_id,
        )
        trace.spans.append(span)
        return span

    def _timed_span(
        self,
        trace: Trace,
        name: str,
        kind: str,
        start: int,
        median_ms: float,
        sigma: float,
        attributes: dict,
    ) -> SpanRecord:
        """A child of the root lasting a log-normal time around `median_ms`."""
        end = start + int(self.rng.lognormvariate(math.log(median_ms), sigma) * MS)
        return self._span(trace, name, kind, start, end, attributes)

    def _log(
        self,
        trace: Trace,
        span: SpanRecord,
        at: int,
        severity: int,
        body: str,
        **attributes: object,
    ) -> None:
        names = {5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR"}
        trace.logs.append(
            LogRecordRow(
                time_unix_nano=at,
                observed_time_unix_nano=at + self.rng.randrange(1, 50) * MS,
                service_name=span.service_name,
                scope_name=f"{span.service_name}.app",
                severity_number=severity,
                severity_text=names[severity],
                body=body,
                trace_id=span.trace_id,
                span_id=span.span_id,
                attributes={"logger.name": f"{span.service_name}.app", **attributes},
                resource_attributes=span.resource_attributes,
            )
        )

    def _turn(self, session: _Session, start: int) -> Trace:
        rng = self.rng
        base = session.service.removesuffix(self.suffix) if self.suffix else session.service
        root = SpanRecord(
            trace_id=self._id(128),
            span_id=self._id(64),
            parent_span_id=None,
            name=f"invoke_agent {base}",
            kind="server",
            start_time_unix_nano=start,
            end_time_unix_nano=start,
            service_name=session.service,
            scope_name=SCOPE,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": base,
                "gen_ai.conversation.id": session.conversation,
                "user.id": session.user,
                "http.route": "/v1/chat",
                "http.request.method": "POST",
            },
            resource_attributes={
                "service.name": session.service,
                "service.version": "1.4.2",
                "deployment.environment": "demo",
            },
            operation="invoke_agent",
            conversation_id=session.conversation,
            user_id=session.user,
        )
        trace = Trace(spans=[root])
        turn = text.turn(rng, base)
        prompt = turn.prompt
        self._log(
            trace,
            root,
            start + MS,
            9,
            f"POST /v1/chat from {session.user} ({session.conversation})",
        )
        cursor = start + rng.randrange(2, 20) * MS
        if base == "rag-service" or rng.random() < 0.2:
            cursor = self._retrieval(trace, root, cursor, prompt)
        model = rng.choices(CHAT_MODELS, _WEIGHTS)[0]
        system = message("system", text_part(text.SYSTEM_PROMPTS[base]))
        inputs = [system, *session.history[-4:], message("user", text_part(prompt))]
        tool = turn.tool
        failed = False
        if tool is not None and rng.random() < 0.6:
            call_id = f"call_{self._id(48)}"
            name, arguments, result = tool
            call = message(
                "assistant",
                {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments},
            )
            cursor, failed = self._chat(trace, root, cursor, model, inputs, [call], "tool_calls")
            if not failed:
                cursor, tool_failed = self._tool(
                    trace, root, cursor, call_id, name, arguments, result
                )
                response = {
                    "type": "tool_call_response",
                    "id": call_id,
                    "response": {"error": "tool failed"} if tool_failed else result,
                }
                inputs = [*inputs, call, message("tool", response)]
        if not failed:
            output = [message("assistant", text_part(turn.answer))]
            cursor, failed = self._chat(trace, root, cursor, model, inputs, output, "stop")
            if not failed:
                session.history += [message("user", text_part(prompt)), output[0]]
        root.end_time_unix_nano = cursor + rng.randrange(1, 30) * MS
        root.status_code = "ok"
        if failed:
            root.status_code = "error"
            root.status_message = "agent gave up after an LLM error"
            self._log(trace, root, cursor, 17, "request failed: the model call did not succeed")
        return trace

    def _chat(
        self,
        trace: Trace,
        root: SpanRecord,
        cursor: int,
        model: Model,
        inputs: list[dict],
        outputs: list[dict],
        finish: str,
    ) -> tuple[int, bool]:
        rng = self.rng
        seen = str(inputs), str(outputs)
        input_tokens = tokens_of(seen[0]) + 12
        output_tokens = tokens_of(seen[1]) + 3
        reasoning = rng.randrange(50, 800) if model.reasoning else 0
        output_tokens += reasoning
        error = rng.random() < 0.03
        attrs: dict = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.request,
            "gen_ai.request.temperature": rng.choice((0.0, 0.2, 0.7)),
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.conversation.id": root.conversation_id,
            "user.id": root.user_id,
            "server.address": f"api.{model.provider.split('.')[0]}.example",
        }
        if error:
            latency_ms = rng.lognormvariate(math.log(400), 0.8)
        else:
            # Time to first token, then generation; provider load spreads both.
            generation = output_tokens * model.ms_per_output_token
            latency_ms = (250 + generation) * rng.lognormvariate(0, 0.5)
        end = cursor + int(latency_ms * MS)
        span = self._span(trace, f"chat {model.request}", "client", cursor, end, attrs)
        span.is_llm, span.provider, span.request_model = True, model.provider, model.request
        span.model = model.request
        span.input_messages = inputs
        # What the collector's redaction leaves: the placeholder, and its kind listed.
        span.pii_types = ["email"] if any(PII_MARK in part for part in seen) else []
        if error:
            kind, reason = rng.choice(LLM_ERRORS)
            attrs["error.type"] = kind
            span.status_code, span.status_message = "error", reason
            span.events = [
                {
                    "name": "exception",
                    "time_unix_nano": end,
                    "attributes": {"exception.type": kind, "exception.message": reason},
                }
            ]
            self._log(
                trace,
                span,
                end,
                17,
                f"chat {model.request} failed: {reason}",
                **{"exception.type": kind},
            )
            return end + MS, True
        cache_read = (
            rng.randrange(input_tokens // 2) if len(inputs) > 2 and rng.random() < 0.4 else 0
        )
        span.response_model = span.model = model.response
        span.output_messages = [{**outputs[0], "finish_reason": finish}, *outputs[1:]]
        span.input_tokens, span.output_tokens = input_tokens, output_tokens
        span.total_tokens = input_tokens + output_tokens
        span.cache_read_tokens = cache_read or None
        span.reasoning_tokens = reasoning or None
        span.cost_usd = cost(model, input_tokens, output_tokens, cache_read)
        if model.provider == "gcp.gemini":  # some SDKs report what they were billed
            span.reported_cost_usd = span.cost_usd
        attrs.update(
            {
                "gen_ai.response.model": model.response,
                "gen_ai.response.id": f"resp_{self._id(64)}",
                "gen_ai.response.finish_reasons": [finish],
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
            }
        )
        self._log(
            trace,
            span,
            end,
            9,
            f"chat {model.response}: {input_tokens} in / {output_tokens} out tokens, "
            f"{latency_ms / 1000:.2f} s",
            **{"gen_ai.request.model": model.request},
        )
        return end + rng.randrange(1, 15) * MS, False

    def _tool(
        self,
        trace: Trace,
        root: SpanRecord,
        cursor: int,
        call_id: str,
        name: str,
        arguments: dict,
        result: dict,
    ) -> tuple[int, bool]:
        rng = self.rng
        span = self._timed_span(
            trace,
            f"execute_tool {name}",
            "internal",
            cursor,
            80,
            1.0,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": arguments,
            },
        )
        end = span.end_time_unix_nano
        if rng.random() < 0.04:
            span.status_code, span.status_message = "error", rng.choice(TOOL_ERRORS)
            self._log(trace, span, end, 13, f"tool {name} failed: {span.status_message}")
            return end + MS, True
        self._log(trace, span, end, 9, f"tool {name} answered in {(end - cursor) / MS:.0f} ms")
        return end + MS, False

    def _retrieval(self, trace: Trace, root: SpanRecord, cursor: int, prompt: str) -> int:
        rng = self.rng
        tokens = tokens_of(prompt)
        span = self._timed_span(
            trace,
            f"embeddings {EMBEDDING.request}",
            "client",
            cursor,
            60,
            0.5,
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.provider.name": EMBEDDING.provider,
                "gen_ai.request.model": EMBEDDING.request,
                "gen_ai.usage.input_tokens": tokens,
            },
        )
        end = span.end_time_unix_nano
        span.is_llm, span.provider = True, EMBEDDING.provider
        span.request_model = span.response_model = span.model = EMBEDDING.request
        span.input_tokens = span.total_tokens = tokens
        span.cost_usd = cost(EMBEDDING, tokens, 0)
        start = end + MS
        search = self._timed_span(
            trace,
            "vector_search docs",
            "client",
            start,
            25,
            0.6,
            {
                "db.system": "qdrant",
                "db.operation.name": "search",
                "db.collection.name": "docs",
            },
        )
        end = search.end_time_unix_nano
        self._log(trace, search, end, 5, f"retrieved {rng.randrange(3, 9)} chunks from docs")
        return end + MS
