"""What the trace page shows about one span, read from the API's span answer.

Fields the answer carries are used as they are; for spans stored before a field
existed (or by instrumentations that only set attributes) the GenAI attribute is the
fallback, so the page shows what is known either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_observatory.api.ui.transcript import Message, transcript
from llm_observatory.api.ui.waterfall import is_llm

# (label, span field, attribute fallback)
TOKEN_FIELDS = (
    ("Input", "input_tokens", "gen_ai.usage.input_tokens"),
    ("Output", "output_tokens", "gen_ai.usage.output_tokens"),
    ("Cache read", "cache_read_tokens", "gen_ai.usage.cache_read_input_tokens"),
    ("Cache creation", "cache_creation_tokens", "gen_ai.usage.cache_creation_input_tokens"),
    ("Reasoning", "reasoning_tokens", "gen_ai.usage.reasoning_tokens"),
    ("Total", "total_tokens", "llm.usage.total_tokens"),
)


@dataclass
class ErrorInfo:
    type: str | None
    message: str | None
    stacktrace: str | None = None


@dataclass
class SpanView:
    span: Any
    is_llm: bool
    provider: str | None
    operation: str | None
    request_model: str | None
    response_model: str | None
    finish_reasons: list[str]
    tokens: list[tuple[str, int]]
    cost_usd: float | None
    reported_cost_usd: float | None
    conversation_id: str | None
    user_id: str | None
    input_messages: list[Message]
    output_messages: list[Message]
    errors: list[ErrorInfo] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    resource_attributes: dict[str, Any] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    links: list[Any] = field(default_factory=list)


def _get(span: Any, name: str, attribute: str | None = None) -> Any:
    value = getattr(span, name, None)
    if value is None and attribute is not None:
        value = (getattr(span, "attributes", None) or {}).get(attribute)
    return value


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _reasons(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return []


def _errors(span: Any) -> list[ErrorInfo]:
    found = []
    attributes = getattr(span, "attributes", None) or {}
    for event in getattr(span, "events", None) or []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            found.append(
                ErrorInfo(
                    attrs.get("exception.type"),
                    attrs.get("exception.message"),
                    attrs.get("exception.stacktrace"),
                )
            )
    if getattr(span, "status", None) == "error" and not found:
        found.append(ErrorInfo(attributes.get("error.type"), _get(span, "status_message") or None))
    elif found and found[0].type is None:
        found[0].type = attributes.get("error.type")
    return found


def span_view(span: Any) -> SpanView:
    attributes = dict(getattr(span, "attributes", None) or {})
    tokens = [
        (label, value)
        for label, name, attribute in TOKEN_FIELDS
        if (value := _int(_get(span, name, attribute))) is not None
    ]
    return SpanView(
        span=span,
        is_llm=is_llm(span),
        provider=_get(span, "provider", "gen_ai.provider.name") or attributes.get("gen_ai.system"),
        operation=_get(span, "operation", "gen_ai.operation.name"),
        request_model=_get(span, "request_model", "gen_ai.request.model"),
        response_model=_get(span, "response_model", "gen_ai.response.model"),
        finish_reasons=_reasons(_get(span, "finish_reasons", "gen_ai.response.finish_reasons")),
        tokens=tokens,
        cost_usd=_get(span, "cost_usd"),
        reported_cost_usd=_get(span, "reported_cost_usd"),
        conversation_id=_get(span, "conversation_id", "gen_ai.conversation.id"),
        user_id=_get(span, "user_id", "user.id"),
        input_messages=transcript(_get(span, "input_messages"), "user"),
        output_messages=transcript(_get(span, "output_messages"), "assistant"),
        errors=_errors(span),
        attributes=attributes,
        resource_attributes=dict(getattr(span, "resource_attributes", None) or {}),
        events=list(getattr(span, "events", None) or []),
        links=list(getattr(span, "links", None) or []),
    )
