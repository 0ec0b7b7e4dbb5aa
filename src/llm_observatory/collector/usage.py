"""LLM usage as Prometheus metrics, counted when the spans are committed.

Requests, tokens by type, cost, errors by error type and latency of the LLM calls
the collector stored, for live rates on dashboards and spend and error alerts.
Labels come from client data, so each is bounded (collector/labels.py): the provider
from the known OTel list; the model only when it has a price (genai-prices or the
user's price file) and among the first MAX_MODEL_LABELS seen; the service among the
first MAX_SERVICE_LABELS; the error type among the first MAX_ERROR_TYPE_LABELS. The
rest is "other", so no client can add more than a fixed number of series.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from llm_observatory.collector import labels
from llm_observatory.core.records import SpanRecord

MAX_MODEL_LABELS = 100
MAX_SERVICE_LABELS = 50
MAX_ERROR_TYPE_LABELS = 20

REQUESTS = Counter(
    "llmo_llm_requests",
    "LLM calls stored, by provider, model and service.",
    ["provider", "model", "service"],
)
TOKENS = Counter(
    "llmo_llm_tokens",
    "Tokens of the LLM calls stored, by provider, model, service and type "
    "(input, output, cache_read, cache_creation, reasoning; input includes the cached "
    "ones, output the reasoning ones, as in OpenTelemetry).",
    ["provider", "model", "service", "type"],
)
COST = Counter(
    "llmo_llm_cost_usd",
    "USD the LLM calls stored cost (computed by the collector), by provider, model, service.",
    ["provider", "model", "service"],
)
ERRORS = Counter(
    "llmo_llm_errors",
    "LLM calls that failed, by provider and error type (error.type).",
    ["provider", "error_type"],
)
LATENCY = Histogram(
    "llmo_llm_request_duration_seconds",
    "Latency of the LLM calls stored (their span's duration), by provider and model.",
    ["provider", "model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)

_TOKEN_FIELDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_creation", "cache_creation_tokens"),
    ("reasoning", "reasoning_tokens"),
)


class UsageMetrics:
    def __init__(self) -> None:
        self.models = labels.FirstSeen(MAX_MODEL_LABELS)
        self.services = labels.FirstSeen(MAX_SERVICE_LABELS)
        self.error_types = labels.FirstSeen(MAX_ERROR_TYPE_LABELS)

    def record(self, spans: Iterable[SpanRecord]) -> None:
        """Count the LLM spans among `spans` (called once they are committed)."""
        requests: Tally[tuple[str, str, str]] = Tally()
        tokens: Tally[tuple[str, str, str, str]] = Tally()
        cost: Tally[tuple[str, str, str]] = Tally()
        errors: Tally[tuple[str, str]] = Tally()
        latencies: dict[tuple[str, str], list[float]] = {}
        for span in spans:
            if not span.is_llm:
                continue
            provider = labels.provider(span.provider)
            model = self.models(span.model) if span.cost_usd is not None else labels.OTHER
            key = (provider, model, self.services(span.service_name))
            requests[key] += 1
            for kind, field in _TOKEN_FIELDS:
                count = getattr(span, field)
                if count:
                    tokens[(*key, kind)] += count
            if span.cost_usd:
                cost[key] += span.cost_usd
            if span.status_code == "error":
                kind = labels.error_type(span.attributes.get("error.type"))
                errors[(provider, self.error_types(kind))] += 1
            latencies.setdefault((provider, model), []).append(span.duration_ms / 1000)
        for key, count in requests.items():
            REQUESTS.labels(*key).inc(count)
        for key, count in tokens.items():
            TOKENS.labels(*key).inc(count)
        for key, usd in cost.items():
            COST.labels(*key).inc(usd)
        for key, count in errors.items():
            ERRORS.labels(*key).inc(count)
        for key, seconds in latencies.items():
            histogram = LATENCY.labels(*key)
            for value in seconds:
                histogram.observe(value)
