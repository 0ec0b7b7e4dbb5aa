"""`seed`: realistic traces, written the way ingested ones are.

Each trace is an agent/request root with nested children: LLM chat calls from several
providers, tool calls, retrieval (an embedding call plus a vector search), some errors
with status messages, and a spread of latencies and token counts so costs vary. Spans
are `SpanRecord`s with OTel GenAI attributes; `extract_llm_fields` and `CostCalculator`
fill the LLM columns as the collector does, the `SPANS` spec turns them into rows and
`SpanWriter.write_rows` writes them as the storage service does: a seeded row is
indistinguishable from an ingested one.

`--seed` makes the traces (ids, shapes, models, tokens, offsets in the window)
deterministic; the window itself ends now.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from llm_observatory.collector.cost import CostCalculator
from llm_observatory.collector.genai import extract_llm_fields
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.rows import SPANS
from llm_observatory.storage.writer import SpanWriter

NS = 1_000_000_000
MS = 1_000_000


@dataclass(frozen=True)
class Model:
    provider: str  # gen_ai.provider.name as instrumentations report it
    request: str
    response: str
    ms_per_output_token: float
    weight: int


CHAT_MODELS = (
    Model("openai", "gpt-4o", "gpt-4o-2024-08-06", 12.0, 20),
    Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 7.0, 35),
    Model("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 14.0, 15),
    Model("anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022", 8.0, 8),
    Model("gcp.gemini", "gemini-1.5-pro", "gemini-1.5-pro-002", 11.0, 7),
    Model("gcp.gemini", "gemini-1.5-flash", "gemini-1.5-flash-002", 5.0, 8),
    Model("mistral_ai", "mistral-large-latest", "mistral-large-2411", 13.0, 4),
    Model("mistral_ai", "mistral-small-latest", "mistral-small-2409", 6.0, 3),
)
EMBEDDING = Model("openai", "text-embedding-3-small", "text-embedding-3-small", 0.0, 1)
_CHAT_WEIGHTS = [m.weight for m in CHAT_MODELS]

SERVICES = ("support-agent", "rag-service", "chat-api", "code-assistant")
TOOLS = ("search_orders", "get_weather", "lookup_customer", "create_ticket", "run_sql")
LLM_ERRORS = (
    "429 Too Many Requests: rate limit reached for requests",
    "503 Service Unavailable: the model is overloaded, retry later",
    "400 Bad Request: context_length_exceeded",
    "timeout: no response within 60s",
)
TOOL_ERRORS = ("tool raised ValueError: order not found", "upstream HTTP 502")
PROMPTS = (
    "Where is my order #4411?",
    "Summarise the attached incident report.",
    "Write a SQL query counting signups per day.",
    "What is the refund policy for damaged items?",
)


class TraceFactory:
    """Deterministic (given the seed) traces of SpanRecords, LLM fields and cost filled."""

    def __init__(self, seed: int, days: float, end_ns: int | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, reproducible by design
        self.end_ns = end_ns if end_ns is not None else time.time_ns()
        self.window_ns = int(days * 86400 * NS)
        self.cost = CostCalculator()

    def _id(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def spans(self, count: int) -> Iterator[SpanRecord]:
        """Exactly `count` spans: whole traces, the last one cut short if needed."""
        left = count
        while left > 0:
            for span in self.trace():
                yield span
                left -= 1
                if left == 0:
                    return

    def trace(self) -> list[SpanRecord]:
        rng = self.rng
        trace_id = self._id(128)
        service = rng.choice(SERVICES)
        start = self.end_ns - rng.randrange(self.window_ns) - 120 * NS
        conversation = f"conv-{rng.randrange(50_000)}"
        user = f"user-{rng.randrange(2_000)}"
        root = SpanRecord(
            trace_id=trace_id,
            span_id=self._id(64),
            parent_span_id=None,
            name=f"invoke_agent {service}",
            kind="server",
            start_time_unix_nano=start,
            end_time_unix_nano=start,
            service_name=service,
            scope_name="llm_observatory.seed",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": service,
                "gen_ai.conversation.id": conversation,
                "user.id": user,
                "http.route": "/v1/chat",
            },
            resource_attributes={"service.name": service, "deployment.environment": "seed"},
        )
        spans = [root]
        cursor = start + rng.randrange(1, 20) * MS
        if service == "rag-service" or rng.random() < 0.3:
            cursor = self._retrieval(spans, root, cursor)
        failed = False
        for _ in range(rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]):
            cursor, error = self._chat(spans, root, cursor)
            failed |= error
            if rng.random() < 0.5:
                cursor = self._tool(spans, root, cursor)
        root.end_time_unix_nano = cursor + rng.randrange(1, 30) * MS
        if failed and rng.random() < 0.5:
            root.status_code = "error"
            root.status_message = "agent gave up after an LLM error"
        else:
            root.status_code = "ok"
        self._llm(root)  # as the collector: every span goes through extraction
        return spans

    def _child(self, root: SpanRecord, name: str, kind: str, start: int, end: int, attrs: dict):
        return SpanRecord(
            trace_id=root.trace_id,
            span_id=self._id(64),
            parent_span_id=root.span_id,
            name=name,
            kind=kind,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            status_code="ok",
            service_name=root.service_name,
            scope_name="llm_observatory.seed",
            attributes=attrs,
            resource_attributes=root.resource_attributes,
        )

    def _llm(self, span: SpanRecord) -> SpanRecord:
        extract_llm_fields(span)
        span.cost_usd = self.cost.cost(span)
        return span

    def _retrieval(self, spans: list[SpanRecord], root: SpanRecord, cursor: int) -> int:
        rng = self.rng
        tokens = rng.randrange(8, 400)
        end = cursor + int(rng.lognormvariate(math.log(60), 0.5) * MS)
        attrs = {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": EMBEDDING.provider,
            "gen_ai.request.model": EMBEDDING.request,
            "gen_ai.response.model": EMBEDDING.response,
            "gen_ai.usage.input_tokens": tokens,
        }
        spans.append(
            self._llm(
                self._child(root, f"embeddings {EMBEDDING.request}", "client", cursor, end, attrs)
            )
        )
        start = end + MS
        end = start + int(rng.lognormvariate(math.log(25), 0.6) * MS)
        attrs = {"db.system": "qdrant", "db.operation.name": "search", "db.collection.name": "docs"}
        spans.append(
            self._llm(self._child(root, "vector_search docs", "client", start, end, attrs))
        )
        return end + MS

    def _chat(self, spans: list[SpanRecord], root: SpanRecord, cursor: int) -> tuple[int, bool]:
        rng = self.rng
        model = rng.choices(CHAT_MODELS, _CHAT_WEIGHTS)[0]
        input_tokens = int(rng.lognormvariate(math.log(900), 0.9)) + 20
        output_tokens = int(rng.lognormvariate(math.log(180), 0.8)) + 1
        error = rng.random() < 0.03
        attrs: dict = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.request,
            "gen_ai.request.temperature": rng.choice((0.0, 0.2, 0.7, 1.0)),
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.conversation.id": root.attributes["gen_ai.conversation.id"],
            "user.id": root.attributes["user.id"],
        }
        if error:
            # A failed call reports no usage and costs nothing.
            latency_ms = rng.lognormvariate(math.log(400), 0.8)
            attrs["error.type"] = "api_error"
        else:
            latency_ms = 250 + output_tokens * model.ms_per_output_token * rng.uniform(0.6, 1.6)
            attrs["gen_ai.response.model"] = model.response
            attrs["gen_ai.usage.input_tokens"] = input_tokens
            attrs["gen_ai.usage.output_tokens"] = output_tokens
            attrs["gen_ai.response.finish_reasons"] = ["stop"]
            if rng.random() < 0.25:  # prompt caching on a repeated system prompt
                attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randrange(input_tokens // 2 + 1)
        if rng.random() < 0.1:
            attrs["gen_ai.input.messages"] = (
                '[{"role": "user", "parts": [{"type": "text", "content": '
                f'"{rng.choice(PROMPTS)}"' + "}]}]"
            )
        end = cursor + int(latency_ms * MS)
        span = self._child(root, f"chat {model.request}", "client", cursor, end, attrs)
        if error:
            span.status_code = "error"
            span.status_message = rng.choice(LLM_ERRORS)
            span.events = [
                {
                    "name": "exception",
                    "time_unix_nano": end,
                    "attributes": {
                        "exception.type": "APIError",
                        "exception.message": span.status_message,
                    },
                }
            ]
        spans.append(self._llm(span))
        return end + rng.randrange(1, 15) * MS, error

    def _tool(self, spans: list[SpanRecord], root: SpanRecord, cursor: int) -> int:
        rng = self.rng
        tool = rng.choice(TOOLS)
        end = cursor + int(rng.lognormvariate(math.log(80), 1.0) * MS)
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "gen_ai.tool.call.id": f"call_{self._id(48)}",
        }
        span = self._child(root, f"execute_tool {tool}", "internal", cursor, end, attrs)
        if rng.random() < 0.04:
            span.status_code = "error"
            span.status_message = rng.choice(TOOL_ERRORS)
        spans.append(self._llm(span))  # not an LLM call: only operation is filled
        return end + MS


@dataclass
class SeedResult:
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


async def seed(
    database_url: str,
    count: int,
    days: float = 7,
    seed_value: int = 42,
    batch_size: int = 5000,
    concurrency: int = 3,
) -> SeedResult:
    """Generate `count` spans and write them with the storage service's writer."""
    factory = TraceFactory(seed_value, days)
    build_row = SPANS.row_builder()
    written = 0
    started = time.perf_counter()
    async with AsyncConnectionPool(
        database_url, min_size=1, max_size=concurrency, open=False, timeout=30
    ) as pool:
        await pool.wait(timeout=10)
        writer = SpanWriter(pool)
        in_flight: set[asyncio.Task[int]] = set()
        batch: list[list] = []
        for span in factory.spans(count):
            batch.append(build_row(span))
            if len(batch) >= batch_size:
                in_flight.add(asyncio.create_task(writer.write_rows(batch)))
                batch = []
                if len(in_flight) >= concurrency:
                    done, in_flight = await asyncio.wait(
                        in_flight, return_when=asyncio.FIRST_COMPLETED
                    )
                    written += sum(task.result() for task in done)
                else:
                    await asyncio.sleep(0)  # let the writes make progress
        if batch:
            in_flight.add(asyncio.create_task(writer.write_rows(batch)))
        if in_flight:
            written += sum(await asyncio.gather(*in_flight))
    return SeedResult(written, time.perf_counter() - started)
