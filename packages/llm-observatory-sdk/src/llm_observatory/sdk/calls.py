"""Spans for LLM work no instrumentation library covers, in the GenAI semantic conventions.

``llm_call`` records one model call (span "{operation} {model}", kind CLIENT), and the
``gen_ai.client.operation.duration`` / ``gen_ai.client.token.usage`` metrics with it;
``tool_call``, ``agent`` and ``retrieval`` record the steps around calls. Each is a
context manager and a decorator (sync or async); inside a decorated function
``current_llm_call()`` returns the call being recorded. Message content only on
request (content.py).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from llm_observatory.sdk.content import capture_content_enabled, error_type, messages_json

SCOPE = "llm_observatory.sdk"
# Bucket boundaries the GenAI semantic conventions advise for these two histograms.
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304]

F = TypeVar("F", bound=Callable[..., Any])
_current: contextvars.ContextVar[LLMCall | None] = contextvars.ContextVar(
    "llm_observatory_llm_call", default=None
)


def current_llm_call() -> LLMCall | None:
    """The innermost llm_call being recorded in this context (for decorated functions)."""
    return _current.get()


class _Recorder:
    """Shared span lifecycle: start on enter, error status on exception, end on exit."""

    def __init__(self, span: Span, capture_content: bool) -> None:
        self.span = span
        self.capture_content = capture_content

    def set_attribute(self, key: str, value: Any) -> None:
        if value is not None:
            self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_error(self, exc: BaseException | str) -> None:
        """Mark the operation failed without raising (e.g. an error answer you handled)."""
        kind = exc if isinstance(exc, str) else error_type(exc)
        self.span.set_attribute("error.type", kind)
        self.span.set_status(Status(StatusCode.ERROR, str(exc)))
        if isinstance(exc, BaseException):
            self.span.record_exception(exc)


class LLMCall(_Recorder):
    """The call being recorded: set what the answer tells once you have it."""

    def __init__(self, span: Span, capture_content: bool, operation: str, provider: str) -> None:
        super().__init__(span, capture_content)
        self.operation, self.provider = operation, provider
        self.request_model: str | None = None
        self.response_model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_tokens: int | None = None,
        cache_creation_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts. As in the conventions, input_tokens includes the cached ones."""
        self.input_tokens, self.output_tokens = input_tokens, output_tokens
        self.set_attributes(
            {
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
                "gen_ai.usage.cache_read.input_tokens": cache_read_tokens,
                "gen_ai.usage.cache_creation.input_tokens": cache_creation_tokens,
                "gen_ai.usage.reasoning.output_tokens": reasoning_tokens,
            }
        )

    def set_response(
        self,
        model: str | None = None,
        id: str | None = None,  # the convention's name for it
        finish_reasons: Sequence[str] | None = None,
    ) -> None:
        if model is not None:
            self.response_model = model
        self.set_attributes(
            {
                "gen_ai.response.model": model,
                "gen_ai.response.id": id,
                "gen_ai.response.finish_reasons": list(finish_reasons) if finish_reasons else None,
            }
        )

    def set_input_messages(self, messages: Any) -> None:
        if self.capture_content:
            self.span.set_attribute("gen_ai.input.messages", messages_json(messages, "user"))

    def set_output_messages(self, messages: Any) -> None:
        if self.capture_content:
            self.span.set_attribute("gen_ai.output.messages", messages_json(messages, "assistant"))

    def set_system_instructions(self, instructions: str) -> None:
        if self.capture_content:
            parts = [{"type": "text", "content": instructions}]
            self.span.set_attribute("gen_ai.system_instructions", json.dumps(parts))


class ToolCall(_Recorder):
    def set_result(self, result: Any) -> None:
        if self.capture_content:
            text = result if isinstance(result, str) else json.dumps(result, default=str)
            self.span.set_attribute("gen_ai.tool.call.result", text)


class Retrieval(_Recorder):
    def set_documents(self, documents: Iterable[Any]) -> None:
        docs = list(documents)
        self.span.set_attribute("gen_ai.retrieval.documents.count", len(docs))
        if self.capture_content:
            self.span.set_attribute("gen_ai.retrieval.documents", json.dumps(docs, default=str))


class _Operation:
    """One recorded operation, usable as `with` block or decorator; fresh span each use."""

    kind = SpanKind.INTERNAL
    recorder: type[_Recorder] = _Recorder

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        capture_content: bool | None,
        tracer_provider: TracerProvider | None,
    ) -> None:
        self.name = name
        self.attributes = {k: v for k, v in attributes.items() if v is not None}
        self.capture_content = capture_content_enabled(capture_content)
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        self._active: list[tuple[Any, _Recorder, float]] = []
        self._tokens: list[contextvars.Token] = []

    def _make(self, span: Span) -> _Recorder:
        return self.recorder(span, self.capture_content)

    def add_content(self, key: str, value: Any) -> None:
        """A content attribute of every span, if content is captured (JSON unless a str)."""
        if value is not None and self.capture_content:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            self.attributes[key] = text

    def __enter__(self) -> Any:
        manager = self.tracer.start_as_current_span(
            self.name,
            kind=self.kind,
            attributes=self.attributes,
            # We set the status and error.type ourselves, as the conventions ask.
            record_exception=False,
            set_status_on_exception=False,
        )
        span = manager.__enter__()
        recorder = self._make(span)
        self._active.append((manager, recorder, time.perf_counter()))
        self._entered(recorder)
        return recorder

    def _entered(self, recorder: _Recorder) -> None:
        return

    def _finished(self, recorder: _Recorder, seconds: float, error: str | None) -> None:
        return

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        manager, recorder, started = self._active.pop()
        error = None
        if exc is not None:
            recorder.set_error(exc)
            error = error_type(exc)
        try:
            self._finished(recorder, time.perf_counter() - started, error)
        finally:
            manager.__exit__(exc_type, exc, tb)

    def _fresh(self) -> _Operation:
        # A decorated function may run in several threads at once: each run gets its
        # own copy, so one run's span never ends another's.
        clone = copy.copy(self)
        clone._active = []
        clone._tokens = []
        return clone

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return run  # type: ignore[return-value]


class _LLMOperation(_Operation):
    kind = SpanKind.CLIENT
    recorder = LLMCall

    def __init__(
        self,
        provider: str,
        model: str,
        operation: str,
        attributes: dict[str, Any],
        capture_content: bool | None,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        input_messages: Any,
    ) -> None:
        super().__init__(f"{operation} {model}", attributes, capture_content, tracer_provider)
        self.provider, self.model, self.operation = provider, model, operation
        self.input_messages = input_messages
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )

    def _make(self, span: Span) -> LLMCall:
        call = LLMCall(span, self.capture_content, self.operation, self.provider)
        call.request_model = self.model
        return call

    def _entered(self, recorder: _Recorder) -> None:
        assert isinstance(recorder, LLMCall)
        self._tokens.append(_current.set(recorder))
        if self.input_messages is not None:
            recorder.set_input_messages(self.input_messages)

    def _finished(self, recorder: _Recorder, seconds: float, error: str | None) -> None:
        assert isinstance(recorder, LLMCall)
        _current.reset(self._tokens.pop())
        labels = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
        }
        if recorder.response_model:
            labels["gen_ai.response.model"] = recorder.response_model
        if error:
            labels["error.type"] = error
        self.duration.record(seconds, labels)
        for token_type, count in (
            ("input", recorder.input_tokens),
            ("output", recorder.output_tokens),
        ):
            if count is not None:
                self.tokens.record(count, {**labels, "gen_ai.token.type": token_type})


def llm_call(
    provider: str,
    model: str,
    operation: str = "chat",
    *,
    capture_content: bool | None = None,
    input_messages: Any = None,
    conversation_id: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    server_address: str | None = None,
    server_port: int | None = None,
    attributes: Mapping[str, Any] | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Any:
    """Record one LLM call: ``with llm_call(provider="anthropic", model="…") as call:``.

    ``provider`` is a gen_ai.provider.name value (openai, anthropic, aws.bedrock,
    gcp.vertex_ai, azure.ai.openai, mistral_ai, …); ``operation`` one of chat,
    text_completion, generate_content, embeddings. An exception leaving the block sets
    the span's error status and error.type, and is re-raised.
    """
    base = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.request.temperature": temperature,
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.request.top_p": top_p,
        "gen_ai.conversation.id": conversation_id,
        "server.address": server_address,
        "server.port": server_port,
    }
    return _LLMOperation(
        provider,
        model,
        operation,
        {**base, **(attributes or {})},
        capture_content,
        tracer_provider,
        meter_provider,
        input_messages,
    )


def tool_call(
    name: str,
    *,
    call_id: str | None = None,
    description: str | None = None,
    tool_type: str = "function",
    arguments: Any = None,
    capture_content: bool | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Any:
    """Record a tool's execution: span "execute_tool {name}" (INTERNAL)."""
    operation = _Operation(
        f"execute_tool {name}",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.description": description,
            "gen_ai.tool.type": tool_type,
        },
        capture_content,
        tracer_provider,
    )
    operation.recorder = ToolCall
    operation.add_content("gen_ai.tool.call.arguments", arguments)
    return operation


def agent(
    name: str,
    *,
    agent_id: str | None = None,
    description: str | None = None,
    provider: str | None = None,
    model: str | None = None,
    conversation_id: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Any:
    """Record an agent's run: span "invoke_agent {name}" (INTERNAL, an in-process agent)."""
    return _Operation(
        f"invoke_agent {name}",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.agent.id": agent_id,
            "gen_ai.agent.description": description,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.conversation.id": conversation_id,
        },
        None,
        tracer_provider,
    )


def retrieval(
    data_source: str,
    *,
    top_k: int | None = None,
    query: str | None = None,
    capture_content: bool | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Any:
    """Record a retrieval from a vector store or index: span "retrieval {data_source}"."""
    operation = _Operation(
        f"retrieval {data_source}",
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.data_source.id": data_source,
            "gen_ai.request.top_k": top_k,
        },
        capture_content,
        tracer_provider,
    )
    operation.kind = SpanKind.CLIENT
    operation.recorder = Retrieval
    operation.add_content("gen_ai.retrieval.query.text", query)
    return operation
