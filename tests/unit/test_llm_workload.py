"""The ingest benchmark's `llm` workload holds what it says (tests/performance/llm_workload.py)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.performance import llm_workload

START = 1_760_000_000_000_000_000
# OTel provider names -> genai-prices provider ids, for the providers the workload uses.
PRICES_PROVIDER = {"gcp.gemini": "google", "mistral_ai": "mistral"}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _spans(body: bytes) -> list[tuple[str, Any, dict[str, Any]]]:
    request = ExportTraceServiceRequest.FromString(body)
    return [
        (scope.scope.name, span, {kv.key: _value(kv.value) for kv in span.attributes})
        for rs in request.resource_spans
        for scope in rs.scope_spans
        for span in scope.spans
    ]


@pytest.fixture(scope="module")
def workload() -> llm_workload.Workload:
    return llm_workload.build("llm", 12, seed=3, run_id="a", start_ns=START)


@pytest.fixture(scope="module")
def spans(workload: llm_workload.Workload) -> list[tuple[str, Any, dict[str, Any]]]:
    return [span for body in workload.bodies for span in _spans(body)]


def test_requests_carry_512_spans_with_unique_ids_inside_the_window(workload, spans):
    assert [len(_spans(body)) for body in workload.bodies] == [512] * 12
    assert len({(s.trace_id, s.span_id) for _, s, _ in spans}) == len(spans) == 12 * 512
    low, high = workload.window
    assert all(low < s.start_time_unix_nano < high for _, s, _ in spans)
    assert all(s.end_time_unix_nano >= s.start_time_unix_nano for _, s, _ in spans)


def test_mix_is_seventy_percent_chat_and_thirty_http_and_database(spans):
    kinds = Counter(
        "chat"
        if attrs.get("gen_ai.operation.name") == "chat"
        else "db"
        if "db.system" in attrs
        else "http"
        if "http.request.method" in attrs
        else "other"
        for _, _, attrs in spans
    )
    assert kinds["other"] == 0
    assert 0.65 <= kinds["chat"] / len(spans) <= 0.75
    assert kinds["db"] > 0 and kinds["http"] > 0


def test_every_span_has_ten_to_twenty_attributes(spans):
    sizes = [len(attrs) for _, _, attrs in spans]
    assert min(sizes) >= 10 and max(sizes) <= 20


def test_chat_spans_carry_messages_usage_and_ids_in_the_current_form(spans):
    chats = [attrs for _, _, attrs in spans if attrs.get("gen_ai.operation.name") == "chat"]
    answered = [a for a in chats if "gen_ai.output.messages" in a]
    assert 0.97 <= len(answered) / len(chats) < 1  # ~1% fail with a rate limit
    for attrs in chats:
        system, user = json.loads(attrs["gen_ai.input.messages"])
        assert system["role"] == "system" and user["role"] == "user"
        assert user["parts"][0]["type"] == "text"
        assert 500 <= len(user["parts"][0]["content"]) <= 2_000
        assert any(c.isdigit() for c in user["parts"][0]["content"])
        assert attrs["gen_ai.conversation.id"] and attrs["user.id"]
    for attrs in answered:
        (output,) = json.loads(attrs["gen_ai.output.messages"])
        assert output["role"] == "assistant" and output["finish_reason"] in ("stop", "length")
        assert 200 <= len(output["parts"][0]["content"]) <= 1_000
        assert attrs["gen_ai.usage.input_tokens"] > 0
        assert attrs["gen_ai.usage.output_tokens"] > attrs.get(
            "gen_ai.usage.reasoning.output_tokens", 0
        )
    assert any("gen_ai.usage.cache_read.input_tokens" in a for a in answered)
    assert any("gen_ai.usage.reasoning.output_tokens" in a for a in answered)


def test_pii_shares_are_as_planted(workload, spans):
    prompts = [
        json.loads(attrs["gen_ai.input.messages"])[1]["parts"][0]["content"]
        for _, _, attrs in spans
        if "gen_ai.input.messages" in attrs
    ]
    emails = sum("@" in p for p in prompts)
    phones = sum("call me on" in p for p in prompts)
    assert emails == workload.stats.pii_spans["email"]
    assert phones == workload.stats.pii_spans["phone"]
    assert 0.07 <= emails / len(prompts) <= 0.13
    assert 0.01 <= phones / len(prompts) <= 0.035


def test_models_are_priced_exactly_where_the_workload_says():
    assert len({m.request_model for m in llm_workload.MODELS}) >= 7
    assert any(not m.priced for m in llm_workload.MODELS)
    for model in llm_workload.MODELS:
        assert model.request_model != model.response_model or model.provider in ("groq", "vllm")
        try:
            calc_price(
                Usage(input_tokens=1000, output_tokens=100),
                model_ref=model.response_model,
                provider_id=PRICES_PROVIDER.get(model.provider, model.provider),
            )
            known = True
        except LookupError:
            known = False
        assert known == model.priced, model


def test_content_is_deterministic_and_ids_differ_per_run(workload):
    again = llm_workload.build("llm", 2, seed=3, run_id="a", start_ns=START)
    other_run = llm_workload.build("llm", 2, seed=3, run_id="b", start_ns=START)
    assert again.bodies == workload.bodies[:2]
    first, second = _spans(again.bodies[0]), _spans(other_run.bodies[0])

    def messages(spans):
        return [a["gen_ai.input.messages"] for _, _, a in spans if "gen_ai.input.messages" in a]

    assert messages(first) == messages(second)
    assert not {s.span_id for _, s, _ in first} & {s.span_id for _, s, _ in second}


def test_bare_workload_is_llm_spans_without_content():
    bare = llm_workload.build("bare", 2, seed=3, run_id="a", start_ns=START)
    spans = [span for body in bare.bodies for span in _spans(body)]
    assert len(spans) == 1024
    assert not any("gen_ai.output.messages" in attrs for _, _, attrs in spans)
    assert bare.stats.kinds["chat"] == sum(s.name.startswith("chat") for _, s, _ in spans)
