"""SpanRecords as the collector makes them from real instrumentations, for tests and benchmarks."""

from __future__ import annotations

import random
import time
import zlib
from typing import Any

from llm_observatory.core.records import SpanRecord

MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4")]
BASE_TIME_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def span_record(name: str, i: int = 0, start_ns: int = BASE_TIME_NS, **fields: Any) -> SpanRecord:
    """A plain client span named `name`, 1 us long, ids derived from name and i; keyword
    arguments set any other field."""
    return SpanRecord(
        trace_id=f"{zlib.crc32(name.encode()):016x}{i:016x}",
        span_id=f"{i + 1:016x}",
        parent_span_id=None,
        name=name,
        kind="client",
        start_time_unix_nano=start_ns + i,
        end_time_unix_nano=start_ns + i + 1000,
        **fields,
    )


def realistic_spans(n: int, seed: int = 7) -> list[SpanRecord]:
    """LLM client spans as openai-v2 instrumentation makes them: ~15 attributes each."""
    rnd = random.Random(seed)
    now = time.time_ns()
    spans = []
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        start = now - rnd.randrange(0, 3_600_000_000_000)
        tin, tout = rnd.randrange(50, 4000), rnd.randrange(10, 800)
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": f"{model}-2024-08-06",
            "gen_ai.response.id": f"chatcmpl-{rnd.getrandbits(96):024x}",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": tin,
            "gen_ai.usage.output_tokens": tout,
            "gen_ai.request.temperature": 0.7,
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.request.top_p": 1.0,
            "server.address": "api.openai.com",
            "server.port": 443,
            "http.response.status_code": 200,
            "user.id": f"user-{i % 97}",
        }
        spans.append(
            SpanRecord(
                trace_id=f"{rnd.getrandbits(128):032x}",
                span_id=f"{rnd.getrandbits(64):016x}",
                parent_span_id=f"{rnd.getrandbits(64):016x}" if i % 4 else None,
                name=f"chat {model}",
                kind="client",
                start_time_unix_nano=start,
                end_time_unix_nano=start + rnd.randrange(200_000_000, 9_000_000_000),
                status_code="error" if i % 50 == 0 else "unset",
                service_name=f"svc-{i % 5}",
                scope_name="opentelemetry.instrumentation.openai_v2",
                attributes=attrs,
                resource_attributes={
                    "service.name": f"svc-{i % 5}",
                    "telemetry.sdk.name": "opentelemetry",
                    "telemetry.sdk.language": "python",
                    "telemetry.sdk.version": "1.28.0",
                    "host.name": "worker-1",
                },
                is_llm=True,
                provider=provider,
                operation="chat",
                request_model=model,
                response_model=f"{model}-2024-08-06",
                model=f"{model}-2024-08-06",
                input_tokens=tin,
                output_tokens=tout,
                total_tokens=tin + tout,
                cost_usd=tin * 2.5e-6 + tout * 1e-5,
                conversation_id=f"conv-{i % 300}",
                user_id=f"user-{i % 97}",
                input_messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "Summarise this paragraph " * 8},
                ],
                output_messages=[{"role": "assistant", "content": "A short summary. " * 6}],
            )
        )
    return spans
