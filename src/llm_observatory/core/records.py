"""Rows of the three OTLP signals, as the collector hands them to storage.

One dataclass per table. Field names are the column names of the `spans`,
`metric_points` and `log_records` hypertables, because users and Grafana query
those tables directly. Times stay integer nanoseconds since the epoch until the
writer converts them: OTLP carries nanoseconds and a float would lose them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# OTLP SpanKind / StatusCode enum values -> the strings stored in the database.
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUS_CODES = ("unset", "ok", "error")


@dataclass(slots=True)
class SpanRecord:
    trace_id: str  # 32 lower-case hex characters
    span_id: str  # 16 lower-case hex characters
    parent_span_id: str | None
    name: str
    kind: str  # one of SPAN_KINDS
    start_time_unix_nano: int
    end_time_unix_nano: int
    status_code: str = "unset"  # one of STATUS_CODES
    status_message: str | None = None
    service_name: str = "unknown_service"
    scope_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    # [{"name": str, "time_unix_nano": int, "attributes": {...}}]
    events: list[dict[str, Any]] = field(default_factory=list)
    # [{"trace_id": str, "span_id": str, "attributes": {...}}]
    links: list[dict[str, Any]] = field(default_factory=list)

    # Filled by LLM enrichment; None on spans that are not LLM calls.
    is_llm: bool = False
    provider: str | None = None
    operation: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    model: str | None = None  # response model if known, else request model
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None  # computed by us (genai-prices or the user's price file)
    reported_cost_usd: float | None = None  # what the span itself claimed (llm.cost.total)
    conversation_id: str | None = None
    user_id: str | None = None
    input_messages: Any = None  # prompt as JSON (list of messages) or text, after redaction
    output_messages: Any = None  # completion as JSON or text, after redaction
    pii_types: list[str] = field(default_factory=list)
    ingest_key: str | None = None  # name of the OTLP ingest key the export came with

    @property
    def duration_ms(self) -> float:
        return max(self.end_time_unix_nano - self.start_time_unix_nano, 0) / 1e6


@dataclass(slots=True)
class MetricPointRecord:
    metric_name: str
    metric_type: str  # gauge | sum | histogram | exponential_histogram | summary
    time_unix_nano: int
    start_time_unix_nano: int | None = None
    service_name: str = "unknown_service"
    scope_name: str | None = None
    unit: str | None = None
    description: str | None = None
    value: float | None = None  # gauge / sum points
    count: int | None = None  # histogram / summary points
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    # {"bounds": [...], "counts": [...]} for histograms, {"quantiles": [...]} for summaries
    buckets: dict[str, Any] | None = None
    is_monotonic: bool | None = None
    aggregation_temporality: str | None = None  # delta | cumulative
    attributes: dict[str, Any] = field(default_factory=dict)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    ingest_key: str | None = None


@dataclass(slots=True)
class LogRecordRow:
    time_unix_nano: int  # time, or observed time where the producer gave none
    observed_time_unix_nano: int | None = None
    service_name: str = "unknown_service"
    scope_name: str | None = None
    severity_number: int | None = None
    severity_text: str | None = None
    body: Any = None
    trace_id: str | None = None
    span_id: str | None = None
    event_name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    pii_types: list[str] = field(default_factory=list)
    ingest_key: str | None = None


@dataclass(slots=True)
class Rejection:
    """Items an export request carried that we could not accept, for OTLP partial success."""

    count: int = 0
    messages: list[str] = field(default_factory=list)

    def add(self, message: str, count: int = 1) -> None:
        self.count += count
        if len(self.messages) < 5:  # enough to debug, bounded for huge bad batches
            self.messages.append(message)

    @property
    def message(self) -> str:
        return "; ".join(self.messages)
