"""llm_observatory.sdk without a collector: resolved settings and the spans it records."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llm_observatory.sdk import (
    ConfigurationError,
    agent,
    configure,
    current_llm_call,
    llm_call,
    retrieval,
    tool_call,
)
from llm_observatory.sdk.export import resolve_endpoints, resolve_protocol

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    yield provider, meters, exporter, reader
    provider.shutdown()


# --------------------------------------------------------------- configure()


def test_defaults_are_grpc_to_localhost():
    assert resolve_protocol(None) == "grpc"
    assert resolve_endpoints(None, "grpc") == dict.fromkeys(
        ("traces", "metrics", "logs"), "http://localhost:4317"
    )


def test_http_appends_the_signal_paths(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    protocol = resolve_protocol(None)
    assert protocol == "http"
    assert resolve_endpoints(None, protocol) == {
        "traces": "http://collector:4318/v1/traces",
        "metrics": "http://collector:4318/v1/metrics",
        "logs": "http://collector:4318/v1/logs",
    }


def test_signal_variable_is_used_as_given_and_arguments_win(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    assert resolve_endpoints(None, "http")["traces"] == "http://traces:4318/custom"
    # An explicit endpoint argument beats every variable.
    assert resolve_endpoints("otel:4318", "http")["traces"] == "http://otel:4318/v1/traces"
    assert resolve_protocol("grpc") == "grpc"


def test_unsupported_protocol_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ConfigurationError, match=r"http/json.*grpc or http/protobuf"):
        configure(set_global=False)


def test_configure_reads_service_name_and_resource_variables(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=staging")
    telemetry = configure(set_global=False, metrics_enabled=False, logs_enabled=False)
    try:
        attributes = telemetry.tracer_provider.resource.attributes
        assert attributes["service.name"] == "from-env"
        assert attributes["deployment.environment.name"] == "staging"
    finally:
        telemetry.shutdown()
    telemetry = configure("from-argument", set_global=False)
    try:
        assert telemetry.tracer_provider.resource.attributes["service.name"] == "from-argument"
        assert telemetry.meter_provider is not None and telemetry.logger_provider is not None
    finally:
        telemetry.shutdown()


# ------------------------------------------------------------------ llm_call


def test_llm_call_records_the_genai_attributes(spans):
    provider, meters, exporter, reader = spans
    with llm_call(
        provider="anthropic",
        model="claude-3-5-sonnet",
        temperature=0.3,
        tracer_provider=provider,
        meter_provider=meters,
    ) as call:
        call.set_usage(
            input_tokens=1200, output_tokens=80, cache_read_tokens=1000, reasoning_tokens=20
        )
        call.set_response(model="claude-3-5-sonnet-20241022", id="msg_1", finish_reasons=["stop"])
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat claude-3-5-sonnet"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet",
        "gen_ai.request.temperature": 0.3,
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 80,
        "gen_ai.usage.cache_read.input_tokens": 1000,
        "gen_ai.usage.reasoning.output_tokens": 20,
        "gen_ai.response.model": "claude-3-5-sonnet-20241022",
        "gen_ai.response.id": "msg_1",
        "gen_ai.response.finish_reasons": ("stop",),
    }
    metrics = {
        metric.name: metric
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    (duration,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert duration.count == 1
    assert duration.attributes["gen_ai.response.model"] == "claude-3-5-sonnet-20241022"
    tokens = {
        point.attributes["gen_ai.token.type"]: point.sum
        for point in metrics["gen_ai.client.token.usage"].data.data_points
    }
    assert tokens == {"input": 1200, "output": 80}


def test_an_exception_sets_error_status_and_type_and_propagates(spans):
    provider, meters, exporter, _ = spans

    class ProviderOverloaded(Exception):
        pass

    with (
        pytest.raises(ProviderOverloaded),
        llm_call(
            provider="openai", model="gpt-4o", tracer_provider=provider, meter_provider=meters
        ),
    ):
        raise ProviderOverloaded("529 overloaded")
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "529 overloaded"
    assert span.attributes["error.type"] == "ProviderOverloaded"
    assert [event.name for event in span.events] == ["exception"]


def test_content_is_recorded_only_when_asked(spans, monkeypatch):
    provider, meters, exporter, _ = spans
    messages = [{"role": "user", "content": "my email is a@b.example"}]
    for capture in (None, True):
        with llm_call(
            provider="openai",
            model="gpt-4o",
            input_messages=messages,
            capture_content=capture,
            tracer_provider=provider,
            meter_provider=meters,
        ) as call:
            call.set_output_messages("Noted.")
    off, on = exporter.get_finished_spans()
    assert "gen_ai.input.messages" not in off.attributes
    assert "gen_ai.output.messages" not in off.attributes
    assert json.loads(on.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "my email is a@b.example"}]}
    ]
    assert json.loads(on.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Noted."}]}
    ]
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with llm_call(
        provider="openai",
        model="gpt-4o",
        input_messages="hi",
        tracer_provider=provider,
        meter_provider=meters,
    ):
        pass
    assert "gen_ai.input.messages" in exporter.get_finished_spans()[-1].attributes


def test_decorator_makes_one_span_per_call_even_across_threads(spans):
    provider, meters, exporter, _ = spans

    @llm_call(
        provider="openai", model="gpt-4o-mini", tracer_provider=provider, meter_provider=meters
    )
    def ask(tokens: int) -> int:
        current_llm_call().set_usage(input_tokens=tokens, output_tokens=1)
        return tokens

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = exporter.get_finished_spans()
    assert sorted(s.attributes["gen_ai.usage.input_tokens"] for s in finished) == list(range(1, 9))
    assert len({s.context.span_id for s in finished}) == 8
    assert current_llm_call() is None


def test_async_decorator(spans):
    provider, meters, exporter, _ = spans

    @llm_call(
        provider="openai",
        model="text-embedding-3-small",
        operation="embeddings",
        tracer_provider=provider,
        meter_provider=meters,
    )
    async def embed() -> None:
        await asyncio.sleep(0)
        current_llm_call().set_usage(input_tokens=7)

    asyncio.run(embed())
    (span,) = exporter.get_finished_spans()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.usage.input_tokens"] == 7


def test_agent_tool_and_retrieval_nest_with_their_operations(spans):
    provider, _, exporter, _ = spans
    with agent("support", tracer_provider=provider):
        with retrieval("kb", top_k=3, tracer_provider=provider) as found:
            found.set_documents(["a", "b"])
        with tool_call("lookup", call_id="call_1", tracer_provider=provider) as tool:
            tool.set_result({"status": "shipped"})
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    root = by_name["invoke_agent support"]
    assert root.parent is None and root.kind is SpanKind.INTERNAL
    assert root.attributes["gen_ai.operation.name"] == "invoke_agent"
    tool_span = by_name["execute_tool lookup"]
    assert tool_span.parent.span_id == root.context.span_id
    assert tool_span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_1"
    assert "gen_ai.tool.call.result" not in tool_span.attributes  # content is opt-in
    step = by_name["retrieval kb"]
    assert step.parent.span_id == root.context.span_id
    assert step.attributes["gen_ai.operation.name"] == "retrieval"
    assert step.attributes["gen_ai.retrieval.documents.count"] == 2
