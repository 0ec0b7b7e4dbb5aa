"""Builders of OTLP export requests for tests and benchmarks.

Plain protobuf construction (no SDK), deterministic for a given seed:

* ``make_llm_span_request(n_spans)``: realistic GenAI traces (an agent root span
  and ``chat`` client spans carrying the ``gen_ai.*`` attributes, one event each);
* ``make_llm_metrics_request(n_points)``: ``gen_ai.client.*`` histograms and a counter;
* ``make_llm_logs_request(n_records)``: GenAI event logs correlated to spans;
* ``span_request`` / ``simple_span``, ``metrics_request``, ``logs_request`` /
  ``log_record``: small hand-made requests of given spans, metrics or log records;
* ``any_value`` / ``key_values``: Python values -> AnyValue / repeated KeyValue;
* ``to_otlp_json`` / ``to_otlp_json_bytes``: a request in the OTLP/HTTP JSON
  encoding (lowerCamelCase, hex trace/span ids), as an OTLP/HTTP JSON exporter sends it.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

BASE_TIME_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")

MODELS = (
    ("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com"),
    ("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com"),
    ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-20241022", "api.anthropic.com"),
)


# ---------------------------------------------------------------- AnyValue helpers


def any_value(value: Any) -> AnyValue:
    """A Python value as an OTLP AnyValue (dict -> kvlist, list/tuple -> array, None -> empty)."""
    av = AnyValue()
    if value is None:
        pass
    elif isinstance(value, bool):  # before int: bool is an int
        av.bool_value = value
    elif isinstance(value, int):
        av.int_value = value
    elif isinstance(value, float):
        av.double_value = value
    elif isinstance(value, str):
        av.string_value = value
    elif isinstance(value, bytes | bytearray):
        av.bytes_value = bytes(value)
    elif isinstance(value, list | tuple):
        av.array_value.values.extend(any_value(v) for v in value)
    elif isinstance(value, Mapping):
        av.kvlist_value.values.extend(key_values(value))
    else:
        raise TypeError(f"no AnyValue for {type(value).__name__}")
    return av


def key_values(attributes: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[KeyValue]:
    """A mapping (or (key, value) pairs, to allow duplicate keys) as repeated KeyValue."""
    items = attributes.items() if isinstance(attributes, Mapping) else attributes
    return [KeyValue(key=k, value=any_value(v)) for k, v in items]


def resource_attributes(service_name: str | None = "chat-backend") -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "service.version": "1.4.2",
        "deployment.environment.name": "production",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.28.0",
    }
    if service_name is not None:
        attrs = {"service.name": service_name, **attrs}
    return attrs


# ------------------------------------------------------------------------ spans


def _id(rng: random.Random, n_bytes: int) -> bytes:
    while True:
        raw = rng.getrandbits(8 * n_bytes).to_bytes(n_bytes, "big")
        if any(raw):
            return raw


def llm_span_attributes(rng: random.Random, i: int) -> dict[str, Any]:
    """~16 attributes of an OpenAI-style chat span, per the GenAI semantic conventions."""
    provider, request_model, response_model, host = MODELS[i % len(MODELS)]
    input_tokens = rng.randint(20, 4000)
    output_tokens = rng.randint(5, 800)
    question = f"Question {i}: how do I reset my password for account {rng.randint(1, 10**6)}?"
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": provider,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": request_model,
        "gen_ai.request.temperature": 0.7,
        "gen_ai.request.max_tokens": 1024,
        "gen_ai.request.top_p": 1.0,
        "gen_ai.response.model": response_model,
        "gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):016x}",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "gen_ai.conversation.id": f"conv-{i // 4:06d}",
        "server.address": host,
        "server.port": 443,
        "gen_ai.input.messages": json.dumps(
            [
                {"role": "system", "parts": [{"type": "text", "content": "You are helpful."}]},
                {"role": "user", "parts": [{"type": "text", "content": question}]},
            ]
        ),
    }


def make_llm_span(
    rng: random.Random,
    i: int,
    trace_id: bytes,
    parent_span_id: bytes = b"",
    start_ns: int = BASE_TIME_NS,
) -> Span:
    """One `chat <model>` CLIENT span with ~16 gen_ai attributes and one event."""
    _, request_model, _, _ = MODELS[i % len(MODELS)]
    duration = rng.randint(200_000_000, 5_000_000_000)
    span = Span(
        trace_id=trace_id,
        span_id=_id(rng, 8),
        parent_span_id=parent_span_id,
        name=f"chat {request_model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration,
        status=Status(code=Status.STATUS_CODE_OK),
    )
    span.attributes.extend(key_values(llm_span_attributes(rng, i)))
    event = span.events.add()
    event.name = "gen_ai.choice"
    event.time_unix_nano = start_ns + duration - 1_000_000
    event.attributes.extend(
        key_values(
            {
                "index": 0,
                "finish_reason": "stop",
                "message": '{"role": "assistant", "content": "Open Settings > Security."}',
            }
        )
    )
    return span


def make_llm_span_request(
    n_spans: int = 100,
    *,
    spans_per_trace: int = 4,
    service_name: str | None = "chat-backend",
    scope_name: str = "opentelemetry.instrumentation.openai_v2",
    seed: int = 0,
    start_ns: int = BASE_TIME_NS,
) -> ExportTraceServiceRequest:
    """n_spans spans in traces of `spans_per_trace`: an INTERNAL `invoke_agent` root
    span followed by `chat` CLIENT children (each with gen_ai.* attributes and an event).

    With spans_per_trace=1 every span is an LLM chat span with no parent.
    """
    rng = random.Random(seed)
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(key_values(resource_attributes(service_name)))
    ss = rs.scope_spans.add()
    ss.scope.name = scope_name
    ss.scope.version = "2.4b0"
    spans = ss.spans

    i = 0
    trace_start = start_ns
    while i < n_spans:
        trace_id = _id(rng, 16)
        parent = b""
        if spans_per_trace > 1:
            root = Span(
                trace_id=trace_id,
                span_id=_id(rng, 8),
                name="invoke_agent support-bot",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=trace_start,
                end_time_unix_nano=trace_start + 20_000_000_000,
            )
            root.attributes.extend(
                key_values(
                    {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.agent.name": "support-bot",
                        "gen_ai.conversation.id": f"conv-{i // 4:06d}",
                        "user.id": f"user-{rng.randint(1, 500)}",
                    }
                )
            )
            spans.append(root)
            parent = root.span_id
            i += 1
        for j in range(spans_per_trace - 1 if spans_per_trace > 1 else 1):
            if i >= n_spans:
                break
            spans.append(make_llm_span(rng, i, trace_id, parent, trace_start + (j + 1) * 1_000_000))
            i += 1
        trace_start += 50_000_000
    return req


# ------------------------------------------------------- small hand-made requests


def simple_span(name: str = "op", **overrides: Any) -> Span:
    """A valid span (fixed ids, 1 us long); keyword arguments override its fields."""
    fields: dict[str, Any] = {
        "trace_id": TRACE_ID,
        "span_id": SPAN_ID,
        "name": name,
        "start_time_unix_nano": BASE_TIME_NS,
        "end_time_unix_nano": BASE_TIME_NS + 1000,
    }
    fields.update(overrides)
    return Span(**fields)


def span_request(*spans: Span, service_name: str | None = "svc") -> ExportTraceServiceRequest:
    """One resource (with service.name unless None), one scope "test.scope", the spans."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    if service_name is not None:
        rs.resource.attributes.extend(key_values({"service.name": service_name}))
    ss = rs.scope_spans.add()
    ss.scope.name = "test.scope"
    ss.spans.extend(spans)
    return req


def metrics_request(*metrics: metrics_pb2.Metric) -> ExportMetricsServiceRequest:
    """One resource (service.name metric-svc, host h1), one scope "meter", the metrics."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(key_values({"service.name": "metric-svc", "host": "h1"}))
    sm = rm.scope_metrics.add()
    sm.scope.name = "meter"
    sm.metrics.extend(metrics)
    return req


def log_record(body: Any = None, **fields: Any) -> LogRecord:
    """A log record at BASE_TIME_NS (unless given) with `body` as its AnyValue body."""
    fields.setdefault("time_unix_nano", BASE_TIME_NS)
    record = LogRecord(**fields)
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return record


def logs_request(*records: LogRecord, service_name: str = "log-svc") -> ExportLogsServiceRequest:
    """One resource with service.name, one scope "logger", the log records."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(key_values({"service.name": service_name}))
    sl = rl.scope_logs.add()
    sl.scope.name = "logger"
    sl.log_records.extend(records)
    return req


# ---------------------------------------------------------------------- metrics


def make_llm_metrics_request(
    n_points: int = 30, *, service_name: str | None = "chat-backend", seed: int = 0
) -> ExportMetricsServiceRequest:
    """gen_ai.client.token.usage and gen_ai.client.operation.duration histograms plus a
    llm.requests counter, n_points data points per metric spread over the models."""
    rng = random.Random(seed)
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend(key_values(resource_attributes(service_name)))
    sm = rm.scope_metrics.add()
    sm.scope.name = "opentelemetry.instrumentation.openai_v2"

    tokens = sm.metrics.add(name="gen_ai.client.token.usage", unit="{token}")
    tokens.description = "Measures number of input and output tokens used"
    tokens.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    duration = sm.metrics.add(name="gen_ai.client.operation.duration", unit="s")
    duration.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    requests = sm.metrics.add(name="llm.requests", unit="{request}")
    requests.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    requests.sum.is_monotonic = True

    token_bounds = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]
    duration_bounds = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24]
    for k in range(n_points):
        provider, model, _, host = MODELS[k % len(MODELS)]
        t = BASE_TIME_NS + k * 10_000_000_000
        common = {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": provider,
            "gen_ai.request.model": model,
            "server.address": host,
        }
        for token_type in ("input", "output"):
            counts = [rng.randint(0, 20) for _ in range(len(token_bounds) + 1)]
            pt = tokens.histogram.data_points.add(
                start_time_unix_nano=BASE_TIME_NS,
                time_unix_nano=t,
                count=sum(counts),
                sum=float(sum(c * b for c, b in zip(counts, [*token_bounds, 100000], strict=True))),
                min=1.0,
                max=70000.0,
            )
            pt.bucket_counts.extend(counts)
            pt.explicit_bounds.extend(token_bounds)
            pt.attributes.extend(key_values({**common, "gen_ai.token.type": token_type}))
        counts = [rng.randint(0, 10) for _ in range(len(duration_bounds) + 1)]
        pt = duration.histogram.data_points.add(
            start_time_unix_nano=BASE_TIME_NS,
            time_unix_nano=t,
            count=sum(counts),
            sum=sum(counts) * 0.8,
        )
        pt.bucket_counts.extend(counts)
        pt.explicit_bounds.extend(duration_bounds)
        pt.attributes.extend(key_values(common))
        pt = requests.sum.data_points.add(
            start_time_unix_nano=BASE_TIME_NS, time_unix_nano=t, as_int=10 * (k + 1)
        )
        pt.attributes.extend(key_values(common))
    return req


# ------------------------------------------------------------------------- logs


def make_llm_logs_request(
    n_records: int = 20,
    *,
    service_name: str | None = "chat-backend",
    seed: int = 0,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
) -> ExportLogsServiceRequest:
    """GenAI event log records (gen_ai.user.message / gen_ai.choice), correlated to a span."""
    rng = random.Random(seed)
    trace_id = trace_id if trace_id is not None else _id(rng, 16)
    span_id = span_id if span_id is not None else _id(rng, 8)
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(key_values(resource_attributes(service_name)))
    sl = rl.scope_logs.add()
    sl.scope.name = "opentelemetry.instrumentation.openai_v2"
    for k in range(n_records):
        user = k % 2 == 0
        lr = sl.log_records.add(
            time_unix_nano=BASE_TIME_NS + k * 1_000_000,
            observed_time_unix_nano=BASE_TIME_NS + k * 1_000_000 + 500,
            severity_number=9,  # INFO
            severity_text="INFO",
            trace_id=trace_id,
            span_id=span_id,
            event_name="gen_ai.user.message" if user else "gen_ai.choice",
        )
        body = (
            {"content": f"What is {k} + {k}?"}
            if user
            else {"index": 0, "finish_reason": "stop", "message": {"content": str(2 * k)}}
        )
        lr.body.CopyFrom(any_value(body))
        lr.attributes.extend(key_values({"gen_ai.system": "openai"}))
    return req


# ------------------------------------------------------------------------- JSON

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def _ids_to_hex(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _ids_to_hex(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_hex(v) for v in node]
    return node


def to_otlp_json(message: Message) -> dict[str, Any]:
    """The message in the OTLP/HTTP JSON encoding: protobuf JSON mapping with hex ids.

    Enums come out as names and int64 as strings, as the spec's examples show. (Attribute
    keys are JSON *values* of "key", so an attribute named traceId is left alone.)
    """
    return _ids_to_hex(json_format.MessageToDict(message))


def to_otlp_json_bytes(message: Message) -> bytes:
    return json.dumps(to_otlp_json(message)).encode()
