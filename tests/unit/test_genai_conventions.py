"""extract_llm_fields: every attribute convention real instrumentations emit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_observatory.collector.processors.genai import extract_llm_fields
from llm_observatory.collector.providers import (
    MODEL_PROVIDER_PREFIXES,
    infer_provider,
    normalize_provider,
)
from llm_observatory.core.records import SpanRecord

LLM_FIELDS = (
    "provider",
    "operation",
    "request_model",
    "response_model",
    "model",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "reported_cost_usd",
    "conversation_id",
    "user_id",
    "input_messages",
    "output_messages",
)


def make_span(attributes: dict[str, Any], events: list[dict[str, Any]] | None = None) -> SpanRecord:
    return SpanRecord(
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
        parent_span_id=None,
        name="span",
        kind="client",
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_001_000_000_000,
        attributes=attributes,
        events=events or [],
    )


def extracted(attributes: dict[str, Any], events: list[dict[str, Any]] | None = None) -> SpanRecord:
    span = make_span(attributes, events)
    extract_llm_fields(span)
    return span


def assert_untouched(span: SpanRecord) -> None:
    assert span.is_llm is False
    for name in LLM_FIELDS:
        assert getattr(span, name) is None, name


# --- current OTel GenAI semconv ---------------------------------------------------------


def test_openai_v2_instrumentation_span_as_measured() -> None:
    # Exactly what opentelemetry-instrumentation-openai-v2 2.4b0 emitted (shared notes).
    span = extracted(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-AbC123",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.usage.input_tokens": 321,
            "gen_ai.usage.output_tokens": 45,
            "server.address": "127.0.0.1",
            "server.port": 8000,
        }
    )
    assert span.is_llm is True
    assert span.provider == "openai"
    assert span.operation == "chat"
    assert span.request_model == "gpt-4o"
    assert span.response_model == "gpt-4o-2024-08-06"
    assert span.model == "gpt-4o-2024-08-06"
    assert (span.input_tokens, span.output_tokens, span.total_tokens) == (321, 45, 366)
    assert span.cache_read_tokens is None
    assert span.reported_cost_usd is None
    assert span.input_messages is None and span.output_messages is None


def test_current_semconv_full_attribute_set() -> None:
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    outputs = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny."}],
            "finish_reason": "stop",
        }
    ]
    instructions = [{"type": "text", "content": "You are terse."}]
    span = extracted(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-sonnet-4-20250514",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 1000,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 120,
            "gen_ai.conversation.id": "conv-42",
            "gen_ai.input.messages": json.dumps(inputs),
            "gen_ai.output.messages": outputs,  # already structured
            "gen_ai.system_instructions": json.dumps(instructions),
        }
    )
    assert span.model == "claude-sonnet-4-20250514"
    assert span.response_model is None
    assert span.cache_read_tokens == 1000
    assert span.cache_creation_tokens == 100
    assert span.reasoning_tokens == 120
    assert span.conversation_id == "conv-42"
    assert span.input_messages == [{"role": "system", "parts": instructions}, *inputs]
    assert span.output_messages == outputs


def test_inference_details_event_carries_the_messages() -> None:
    inputs = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    outputs = [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
    span = extracted(
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"},
        [
            {
                "name": "gen_ai.client.inference.operation.details",
                "time_unix_nano": 1,
                "attributes": {
                    "gen_ai.input.messages": json.dumps(inputs),
                    "gen_ai.output.messages": json.dumps(outputs),
                },
            }
        ],
    )
    assert span.input_messages == inputs
    assert span.output_messages == outputs


def test_attributes_win_over_events() -> None:
    attr_inputs = [{"role": "user", "content": "from attribute"}]
    span = extracted(
        {"gen_ai.request.model": "gpt-4o", "gen_ai.input.messages": attr_inputs},
        [
            {
                "name": "gen_ai.client.inference.operation.details",
                "time_unix_nano": 1,
                "attributes": {
                    "gen_ai.input.messages": [{"role": "user", "content": "from event"}],
                    "gen_ai.output.messages": [{"role": "assistant", "content": "ok"}],
                },
            }
        ],
    )
    assert span.input_messages == attr_inputs
    assert span.output_messages == [{"role": "assistant", "content": "ok"}]


def test_per_message_events_in_order() -> None:
    events = [
        {"name": "gen_ai.system.message", "attributes": {"content": "Be brief."}},
        {
            "name": "gen_ai.user.message",
            "attributes": {"content": "2+2?", "gen_ai.system": "openai"},
        },
        {
            "name": "gen_ai.assistant.message",
            "attributes": {"tool_calls": [{"id": "call_1", "type": "function"}]},
        },
        {"name": "gen_ai.tool.message", "attributes": {"content": "4", "id": "call_1"}},
        {
            "name": "gen_ai.choice",
            "attributes": {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "4"},
            },
        },
    ]
    span = extracted({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"}, events)
    assert span.input_messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function"}]},
        {"role": "tool", "content": "4", "id": "call_1"},
    ]
    assert span.output_messages == [
        {"role": "assistant", "content": "4", "index": 0, "finish_reason": "stop"}
    ]


def test_oldest_content_events() -> None:
    span = extracted(
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"},
        [
            {
                "name": "gen_ai.content.prompt",
                "attributes": {"gen_ai.prompt": '[{"role": "user"}]'},
            },
            {"name": "gen_ai.content.completion", "attributes": {"gen_ai.completion": "done"}},
        ],
    )
    assert span.input_messages == [{"role": "user"}]
    assert span.output_messages == "done"


# --- deprecated semconv -------------------------------------------------------------------


def test_deprecated_names() -> None:
    span = extracted(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-3.5-turbo",
            "gen_ai.usage.prompt_tokens": 10,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.prompt": '[{"role": "user", "content": "hello"}]',
            "gen_ai.completion": "plain completion text",
        }
    )
    assert span.is_llm
    assert span.provider == "openai"
    assert (span.input_tokens, span.output_tokens, span.total_tokens) == (10, 20, 30)
    assert span.input_messages == [{"role": "user", "content": "hello"}]
    assert span.output_messages == "plain completion text"


def test_indexed_prompt_and_completion_in_index_order() -> None:
    attributes = {
        "gen_ai.system": "Anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet-20241022",
        # inserted out of order, with index 10 to check numeric (not text) ordering
        "gen_ai.prompt.10.role": "user",
        "gen_ai.prompt.10.content": "eleventh",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": "second",
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "first",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "answer",
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.completion.0.tool_calls.0.name": "get_weather",
        "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
    }
    span = extracted(attributes)
    assert span.provider == "anthropic"
    assert span.input_messages == [
        {"role": "system", "content": "first"},
        {"role": "user", "content": "second"},
        {"role": "user", "content": "eleventh"},
    ]
    assert span.output_messages == [
        {
            "role": "assistant",
            "content": "answer",
            "finish_reason": "stop",
            "tool_calls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}],
        }
    ]


# --- OpenLLMetry (traceloop) ---------------------------------------------------------------


def test_openllmetry_chat_span() -> None:
    span = extracted(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.prompt_tokens": 100,
            "gen_ai.usage.completion_tokens": 25,
            "llm.usage.total_tokens": 130,  # as reported, not recomputed
            "gen_ai.usage.cache_read_input_tokens": 64,
            "traceloop.entity.name": "openai.chat",
            "traceloop.association.properties.session_id": "sess-7",
            "traceloop.association.properties.user_id": "user-9",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
        }
    )
    assert span.is_llm
    assert span.provider == "openai"
    assert span.operation == "chat"
    assert span.total_tokens == 130
    assert span.cache_read_tokens == 64
    assert span.conversation_id == "sess-7"
    assert span.user_id == "user-9"
    assert span.input_messages == [{"role": "user", "content": "hi"}]


def test_openllmetry_completion_and_embedding_operations() -> None:
    completion = extracted({"llm.request.type": "completion", "gen_ai.request.model": "davinci"})
    embedding = extracted({"llm.request.type": "embedding", "gen_ai.request.model": "ada"})
    assert completion.operation == "text_completion"
    assert embedding.operation == "embeddings"
    assert completion.is_llm and embedding.is_llm


def test_openllmetry_workflow_span_is_not_an_llm_call() -> None:
    span = extracted(
        {
            "traceloop.span.kind": "workflow",
            "traceloop.entity.name": "answer_question",
            "traceloop.association.properties.session_id": "sess-7",
            "gen_ai.request.model": "gpt-4o",  # workflows may repeat the model
            "gen_ai.usage.input_tokens": 500,
        }
    )
    assert span.is_llm is False
    assert span.conversation_id == "sess-7"
    assert span.model is None and span.input_tokens is None


# --- OpenInference -------------------------------------------------------------------------


def test_openinference_llm_span() -> None:
    span = extracted(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini-2024-07-18",
            "llm.provider": "openai",
            "llm.system": "openai",
            "llm.token_count.prompt": 50,
            "llm.token_count.completion": 10,
            "llm.token_count.total": 60,
            "llm.token_count.prompt_details.cache_read": 20,
            "llm.token_count.prompt_details.cache_write": 5,
            "llm.token_count.completion_details.reasoning": 4,
            "llm.cost.total": 0.00042,
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Be nice.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Hi!",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Hello!",
            "input.value": '{"messages": []}',
            "output.value": "Hello!",
            "session.id": "s-1",
            "user.id": "u-1",
        }
    )
    assert span.is_llm
    assert span.provider == "openai"
    assert span.operation == "chat"
    assert span.model == "gpt-4o-mini-2024-07-18"
    assert (span.input_tokens, span.output_tokens, span.total_tokens) == (50, 10, 60)
    assert (span.cache_read_tokens, span.cache_creation_tokens, span.reasoning_tokens) == (20, 5, 4)
    assert span.reported_cost_usd == pytest.approx(0.00042)
    assert span.conversation_id == "s-1"
    assert span.user_id == "u-1"
    assert span.input_messages == [
        {"role": "system", "content": "Be nice."},
        {"role": "user", "content": "Hi!"},
    ]
    assert span.output_messages == [{"role": "assistant", "content": "Hello!"}]


def test_openinference_cost_from_parts_and_value_fallback() -> None:
    span = extracted(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "claude-3-haiku-20240307",
            "llm.system": "anthropic",
            "llm.cost.prompt": 0.25,
            "llm.cost.completion": "0.5",
            "input.value": "What is 2+2?",
            "output.value": '{"answer": 4}',
        }
    )
    assert span.reported_cost_usd == pytest.approx(0.75)
    assert span.provider == "anthropic"
    assert span.input_messages == "What is 2+2?"
    assert span.output_messages == {"answer": 4}
    # Moved, not copied: a row stores each message once.
    assert "input.value" not in span.attributes
    assert "output.value" not in span.attributes


def test_openinference_embedding_is_llm_but_chain_tool_agent_are_not() -> None:
    embedding = extracted(
        {"openinference.span.kind": "EMBEDDING", "embedding.model_name": "x", "llm.model_name": "m"}
    )
    assert embedding.is_llm and embedding.operation == "embeddings"
    for kind in ("CHAIN", "TOOL", "RETRIEVER", "AGENT", "RERANKER"):
        span = extracted(
            {
                "openinference.span.kind": kind,
                "llm.model_name": "gpt-4o",  # agent spans often name the model
                "llm.token_count.prompt": 900,
                "input.value": "question",
                "session.id": "s-1",
            }
        )
        assert span.is_llm is False, kind
        assert span.model is None and span.input_tokens is None and span.input_messages is None
        assert span.conversation_id == "s-1"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("Anthropic", "anthropic"),
        ("google", "gcp.gen_ai"),
        ("vertexai", "gcp.vertex_ai"),
        ("mistralai", "mistral_ai"),
        ("xai", "x_ai"),
        ("az.ai.openai", "azure.ai.openai"),
        ("aws", "aws.bedrock"),
        ("  Groq ", "groq"),
        ("Ollama", "ollama"),  # unknown: kept, lower-cased
    ],
)
def test_provider_spellings_normalised(spelling: str, expected: str) -> None:
    assert normalize_provider(spelling) == expected
    assert extracted({"llm.system": spelling, "llm.model_name": "m"}).provider == expected


# --- precedence ----------------------------------------------------------------------------


def test_current_wins_over_deprecated_wins_over_vendor() -> None:
    span = extracted(
        {
            "gen_ai.provider.name": "azure.ai.openai",
            "gen_ai.system": "openai",
            "llm.provider": "azure",
            "gen_ai.request.model": "gpt-4o",
            "llm.model_name": "vendor-model",
            "gen_ai.usage.input_tokens": 1,
            "gen_ai.usage.prompt_tokens": 2,
            "llm.token_count.prompt": 3,
            "gen_ai.usage.completion_tokens": 5,
            "llm.token_count.completion": 6,
            "gen_ai.conversation.id": "current",
            "session.id": "vendor",
        }
    )
    assert span.provider == "azure.ai.openai"
    assert span.request_model == "gpt-4o"
    assert span.input_tokens == 1
    assert span.output_tokens == 5
    assert span.conversation_id == "current"


def test_model_is_response_model_else_request_model() -> None:
    both = extracted({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024"})
    request_only = extracted({"gen_ai.request.model": "gpt-4o"})
    assert both.model == "gpt-4o-2024"
    assert request_only.model == "gpt-4o"


# --- coercion and garbage ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(321, 321), (321.0, 321), ("321", 321), (" 321 ", 321), ("321.0", 321), ("1e3", 1000)],
)
def test_token_values_coerced(raw: Any, expected: int) -> None:
    assert (
        extracted({"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": raw}).input_tokens
        == expected
    )


@pytest.mark.parametrize(
    "garbage",
    ["many", "", -5, "-5", float("nan"), float("inf"), "inf", True, [1, 2], {"a": 1}, 2**70],
)
def test_garbage_token_values_ignored_and_next_convention_used(garbage: Any) -> None:
    span = extracted(
        {
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": garbage,
            "llm.token_count.prompt": 7,
            "gen_ai.usage.output_tokens": garbage,
        }
    )
    assert span.is_llm
    assert span.input_tokens == 7
    assert span.output_tokens is None
    assert span.total_tokens is None  # needs both sides


def test_garbage_everywhere_never_raises() -> None:
    span = extracted(
        {
            "gen_ai.operation.name": 5,
            "gen_ai.provider.name": ["openai"],
            "gen_ai.request.model": {"x": 1},
            "gen_ai.response.model": "   ",
            "gen_ai.usage.input_tokens": "12",
            "gen_ai.input.messages": "{not json",
            "gen_ai.output.messages": 3.5,
            "gen_ai.prompt.x.role": "user",
            "gen_ai.prompt.0": "no field",
            "gen_ai.prompt.0.content": "kept",
            "gen_ai.prompt.0.content.0.text": "conflicting deeper key",
            "llm.cost.total": "free",
            "gen_ai.conversation.id": 12345,
        },
        [{"name": 7}, "not-a-dict", {"name": "gen_ai.choice", "attributes": None}],
    )
    assert span.is_llm  # it has token usage
    assert span.operation is None
    assert span.provider is None
    assert span.model is None
    assert span.input_tokens == 12
    assert span.input_messages == "{not json"  # unparsable JSON kept as text
    assert span.reported_cost_usd is None
    assert span.conversation_id == "12345"


# --- non-LLM spans -------------------------------------------------------------------------


def test_plain_http_span_untouched() -> None:
    attributes = {"http.request.method": "GET", "url.full": "https://example.com/", "llm": "no"}
    span = extracted(dict(attributes))
    assert_untouched(span)
    assert span.attributes == attributes


def test_genai_agent_and_tool_spans_are_not_llm_calls() -> None:
    for operation in ("invoke_agent", "execute_tool", "create_agent"):
        span = extracted(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.conversation.id": "c-1",
            }
        )
        assert span.is_llm is False
        assert span.operation == operation
        assert span.conversation_id == "c-1"
        assert span.input_tokens is None and span.model is None


def test_llm_operation_without_model_or_usage_is_llm() -> None:
    span = extracted({"gen_ai.operation.name": "embeddings"})
    assert span.is_llm and span.operation == "embeddings" and span.model is None


def test_genai_prefix_without_model_or_usage_is_not_llm() -> None:
    span = extracted({"gen_ai.agent.name": "helper"})
    assert span.is_llm is False
    assert span.model is None


# --- provider inference from the model name -----------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o", "openai"),
        ("o1", "openai"),
        ("o3-mini", "openai"),
        ("text-embedding-3-small", "openai"),
        ("claude-3-5-sonnet-20241022", "anthropic"),
        ("gemini-1.5-pro", "gcp.gemini"),
        ("grok-2", "x_ai"),
        ("llama-3.1-70b-instruct", None),  # open weights: anyone may serve it
        ("deepseek-r1", None),
        ("o1x", None),
        ("mistral-large", None),
    ],
)
def test_provider_inferred_only_when_unambiguous(model: str, provider: str | None) -> None:
    assert infer_provider(model) == provider
    assert extracted({"gen_ai.request.model": model}).provider == provider


def test_explicit_provider_beats_model_inference() -> None:
    span = extracted({"gen_ai.provider.name": "azure.ai.openai", "gen_ai.request.model": "gpt-4o"})
    assert span.provider == "azure.ai.openai"


def test_inference_table_is_prefix_provider_pairs() -> None:
    assert all(prefix.endswith("-") for prefix, _ in MODEL_PROVIDER_PREFIXES)


def test_messages_move_out_of_the_attributes_into_their_columns():
    span = make_span(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": '[{"role": "user", "parts": []}]',
            "gen_ai.output.messages": '[{"role": "assistant", "parts": []}]',
            "gen_ai.request.temperature": 0.2,
        }
    )
    extract_llm_fields(span)
    assert span.input_messages == [{"role": "user", "parts": []}]
    assert span.output_messages == [{"role": "assistant", "parts": []}]
    assert "gen_ai.input.messages" not in span.attributes
    assert "gen_ai.output.messages" not in span.attributes
    assert span.attributes["gen_ai.request.temperature"] == 0.2


def test_indexed_prompt_attributes_move_into_the_messages():
    span = make_span(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "hello",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hi",
        }
    )
    extract_llm_fields(span)
    assert span.input_messages[0]["content"] == "hello"
    assert span.output_messages[0]["content"] == "hi"
    assert not [
        key for key in span.attributes if key.startswith(("gen_ai.prompt", "gen_ai.completion"))
    ]
