"""Response bodies of the REST API: the public contract (field names are the issue's).

GraphQL serves the same fields in camelCase (api/graphql.py converts these models).
Times are ISO 8601 in UTC; costs are US dollars as JSON numbers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(description='"ok", or "degraded" when a dependency is down')
    database: str = Field(description='"ok" or "down: <reason>"')
    redis: str = Field(description='"ok" or "down: <reason>"')


class TraceSummary(BaseModel):
    trace_id: str
    root_name: str = Field(description="name of the root span (the span without a parent)")
    service: str = Field(description="service of the root span")
    start_time: datetime
    duration_ms: float = Field(description="duration of the root span")
    span_count: int
    llm_calls: int = Field(description="spans recognised as LLM calls")
    input_tokens: int
    output_tokens: int
    cost_usd: float
    status: str = Field(description='"error" if any span of the trace failed, else "ok"')


class TraceList(BaseModel):
    items: list[TraceSummary]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null on the last page"
    )


class SpanOut(BaseModel):
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: str = Field(description="unset, ok or error")
    provider: str | None
    model: str | None
    operation: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    pii_types: list[str]
    attributes: dict[str, Any]
    events: list[Any]


class TraceDetail(BaseModel):
    trace_id: str
    spans: list[SpanOut] = Field(description="every span of the trace, by start time")


class UsageRow(BaseModel):
    bucket: datetime = Field(description="start of the time bucket")
    key: str | None = Field(description="the model, provider or service (null: not reported)")
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    error_rate: float = Field(description="share of requests that failed, 0..1")
    p50_latency_ms: float
    p95_latency_ms: float


class UsageList(BaseModel):
    items: list[UsageRow]


class ModelSummary(BaseModel):
    model: str | None
    provider: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    errors: int
    first_seen: datetime = Field(description="start of the first hour the model was seen in")
    last_seen: datetime = Field(description="start of the last hour the model was seen in")


class ModelList(BaseModel):
    items: list[ModelSummary]
