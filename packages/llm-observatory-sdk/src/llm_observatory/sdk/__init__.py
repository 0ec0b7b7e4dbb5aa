"""LLM Observatory SDK: send an LLM application's telemetry to the collector.

    from llm_observatory.sdk import configure, llm_call

    telemetry = configure(service_name="support-bot")   # OTLP to localhost:4317
    with llm_call(provider="anthropic", model="claude-3-5-sonnet-20241022") as call:
        answer = my_client.ask(...)
        call.set_usage(input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
        call.set_response(model=answer.model, id=answer.id, finish_reasons=["stop"])
    telemetry.shutdown()

It complements the official instrumentations (opentelemetry-instrumentation-openai-v2
and friends), which use the providers configure() installs; llm_call is for the calls
none of them covers. See docs/SDK.md.

Its own distribution, `llm-observatory-sdk` (packages/llm-observatory-sdk in the
repository): it needs only OpenTelemetry's API, SDK and OTLP exporters, never the
server's dependencies.
"""

from llm_observatory.sdk.calls import (
    LLMCall,
    Retrieval,
    ToolCall,
    agent,
    current_llm_call,
    llm_call,
    retrieval,
    tool_call,
)
from llm_observatory.sdk.content import capture_content_enabled
from llm_observatory.sdk.export import ConfigurationError, Telemetry, configure

__all__ = [
    "ConfigurationError",
    "LLMCall",
    "Retrieval",
    "Telemetry",
    "ToolCall",
    "agent",
    "capture_content_enabled",
    "configure",
    "current_llm_call",
    "llm_call",
    "retrieval",
    "tool_call",
]
