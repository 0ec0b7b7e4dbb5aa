"""The answers of the API: each shape is declared once, here.

REST returns these models as JSON; GraphQL serves the same fields in camelCase through
types derived from them (api/graphql_types.py), and the web UI renders them. A field
added here appears in all three. Database rows are validated into these models once
(api/queries), and the same instances are what every front end serialises.

Times are ISO 8601 in UTC; costs are US dollars as JSON numbers. Token counts are
`Long`: 64-bit integers (GraphQL's Int stops at 2^31). Messages, attributes, events
and links are the stored JSON as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NewType

from pydantic import BaseModel, Field

from llm_observatory.api.params import MAX_MODELS, MAX_SERVICES, MAX_USAGE_ROWS
from llm_observatory.storage import latency_buckets

# Type markers the GraphQL derivation maps to its scalars; plain int / JSON for pydantic.
Long = NewType("Long", int)
JsonObject = NewType("JsonObject", dict[str, Any])
JsonValue = NewType("JsonValue", object)

NEXT_CURSOR = "pass as `cursor` for the next page; null on the last page"


class Health(BaseModel):
    """Each dependency is "ok" or "down", nothing more: /health needs no token, and why a
    dependency is down (hosts, roles, addresses) goes to the API's log."""

    status: Literal["ok", "degraded"] = Field(description='"degraded" when a dependency is down')
    database: Literal["ok", "down"]
    redis: Literal["ok", "down"]


# --- traces -----------------------------------------------------------------------------


class TraceSummary(BaseModel):
    trace_id: str
    root_name: str = Field(description="name of the root span (the span without a parent)")
    service: str = Field(description="service of the root span")
    start_time: datetime
    duration_ms: float = Field(description="duration of the root span")
    span_count: int
    llm_calls: int = Field(description="spans recognised as LLM calls")
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    status: str = Field(description='"error" if any span of the trace failed, else "ok"')


class _Page(BaseModel):
    """A page of a list: its items (each list declares their type) and the next cursor."""

    items: list[Any]
    next_cursor: str | None = Field(description=NEXT_CURSOR)


class TraceList(_Page):
    items: list[TraceSummary]


class Span(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    scope: str | None = Field(description="instrumentation scope that made the span")
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: str = Field(description="unset, ok or error")
    status_message: str | None
    is_llm: bool = Field(description="recognised as an LLM call")
    provider: str | None
    operation: str | None = Field(description="gen_ai.operation.name: chat, embeddings, ...")
    request_model: str | None
    response_model: str | None
    model: str | None = Field(description="the response model if reported, else the request's")
    input_tokens: Long | None = Field(description="prompt tokens, cache reads and writes included")
    output_tokens: Long | None = Field(description="completion tokens, reasoning included")
    total_tokens: Long | None
    cache_read_tokens: Long | None
    cache_creation_tokens: Long | None
    reasoning_tokens: Long | None
    cost_usd: float | None = Field(description="cost computed from the model's prices")
    reported_cost_usd: float | None = Field(description="cost the span itself reported")
    finish_reasons: list[str] = Field(description="gen_ai.response.finish_reasons")
    conversation_id: str | None = Field(description="the session the call belongs to")
    user_id: str | None
    input_messages: JsonValue | None = Field(
        description="prompt as stored: OTel GenAI messages [{role, parts: [...]}] or text"
    )
    output_messages: JsonValue | None = Field(description="completion, in the same form")
    pii_types: list[str] = Field(description="kinds of personal data redacted from the span")
    attributes: JsonObject
    resource_attributes: JsonObject
    events: list[JsonValue]
    links: list[JsonValue]


class LogRecord(BaseModel):
    time: datetime
    observed_time: datetime | None
    service: str
    scope: str | None
    severity_number: int | None = Field(description="OTLP severity: 1-24, 9 = INFO, 17 = ERROR")
    severity_text: str | None
    body: JsonValue | None
    trace_id: str | None
    span_id: str | None
    event_name: str | None
    attributes: JsonObject
    resource_attributes: JsonObject
    pii_types: list[str]


class LogList(_Page):
    items: list[LogRecord] = Field(description="newest first")


class TraceDetail(BaseModel):
    trace_id: str
    start_time: datetime = Field(description="start of the earliest span")
    end_time: datetime = Field(description="end of the latest span")
    span_count: int = Field(description="spans stored for the trace")
    llm_calls: int
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    status: str = Field(description='"error" if any span failed, else "ok"')
    truncated: bool = Field(
        description="true when `spans` holds only the earliest spans (span_count is the total)"
    )
    spans: list[Span] = Field(description="the trace's spans by start time")
    log_records: list[LogRecord] = Field(description="log records of the trace, oldest first")
    log_records_truncated: bool = Field(description="true when only the earliest are listed")


# --- sessions and users -----------------------------------------------------------------


class SessionSummary(BaseModel):
    session_id: str = Field(description="the conversation id (gen_ai.conversation.id)")
    first_seen: datetime = Field(description="start of its first LLM call")
    last_seen: datetime = Field(description="start of its last LLM call")
    traces: int
    llm_calls: int
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    errors: int = Field(description="LLM calls that failed")
    users: list[str] = Field(description="user ids of its calls (at most 20)")


class SessionList(_Page):
    items: list[SessionSummary] = Field(description="most recently active first")


class SessionTrace(BaseModel):
    trace_id: str
    root_name: str | None = Field(description="null when the root span was not received")
    service: str | None
    start_time: datetime = Field(description="start of the root span, else of its first call")
    calls: list[Span] = Field(description="the trace's LLM calls in the session, by start time")


class SessionDetail(BaseModel):
    session: SessionSummary
    traces: list[SessionTrace] = Field(description="in time order: the conversation")
    truncated: bool = Field(description="true when only the earliest LLM calls are listed")


class UserSummary(BaseModel):
    user_id: str
    first_seen: datetime
    last_seen: datetime
    llm_calls: int
    sessions: int = Field(description="distinct conversation ids of the user's calls")
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    errors: int


class UserList(_Page):
    items: list[UserSummary] = Field(description="most recently active first")


class UserDetail(BaseModel):
    user: UserSummary
    sessions: SessionList = Field(description="the user's most recent sessions")
    traces: TraceList = Field(description="the user's most recent traces")


# --- usage, models, services ------------------------------------------------------------


_LATENCY_PERCENTILE = (
    "{q} latency, read off the calls' latency buckets (eight per doubling, as "
    "OpenTelemetry's exponential histograms at scale 3): within "
    f"{latency_buckets.RELATIVE_ERROR:.1%} of the latency of a call at that rank"
)


class UsageRow(BaseModel):
    bucket: datetime = Field(description="start of the time bucket")
    key: str | None = Field(description="the model, provider or service (null: not reported)")
    requests: Long
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    error_rate: float = Field(description="share of requests that failed, 0..1")
    p50_latency_ms: float = Field(description=_LATENCY_PERCENTILE.format(q="median"))
    p95_latency_ms: float = Field(description=_LATENCY_PERCENTILE.format(q="95th percentile"))


class UsageList(BaseModel):
    items: list[UsageRow] = Field(
        description=f"by bucket, then key; at most {MAX_USAGE_ROWS:,} rows (a coarser "
        "interval or a shorter range for more)"
    )


class ModelSummary(BaseModel):
    model: str | None
    provider: str | None
    requests: Long
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    errors: Long
    first_seen: datetime = Field(description="start of the first hour the model was seen in")
    last_seen: datetime = Field(description="start of the last hour the model was seen in")


class ModelList(BaseModel):
    items: list[ModelSummary] = Field(
        description=f"the most requested first; at most {MAX_MODELS:,}"
    )


class ServiceList(BaseModel):
    items: list[str] = Field(
        description=f"every service that sent a span, by name (at most {MAX_SERVICES:,})"
    )
