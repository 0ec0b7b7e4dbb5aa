"""Embedding calls report input tokens only: their total is the input."""

from __future__ import annotations

from llm_observatory.collector.processors.genai import extract_llm_fields
from llm_observatory.core.records import SpanRecord


def _span(attributes: dict) -> SpanRecord:
    span = SpanRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_span_id=None,
        name="embeddings text-embedding-3-small",
        kind="client",
        start_time_unix_nano=1,
        end_time_unix_nano=2,
        attributes=attributes,
    )
    extract_llm_fields(span)
    return span


def test_embedding_total_is_its_input_tokens() -> None:
    span = _span(
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 42,
        }
    )
    assert (span.input_tokens, span.output_tokens, span.total_tokens) == (42, None, 42)


def test_a_chat_without_output_tokens_has_no_total() -> None:
    span = _span(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 42,
        }
    )
    assert span.total_tokens is None
