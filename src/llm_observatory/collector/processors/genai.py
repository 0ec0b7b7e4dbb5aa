"""Recognise LLM calls in spans and fill SpanRecord's LLM columns.

Instrumentations disagree on attribute names, so each field is read from a
list of keys in precedence order: the current OTel GenAI semantic conventions,
then their deprecated names, then vendor conventions (OpenLLMetry/traceloop,
OpenInference). The first usable value wins; a value of the wrong type or an
unparsable number is skipped as if absent, so a span with garbage attributes
is still stored, only without that field.

Which spans are LLM calls:

* an explicit operation decides first: ``gen_ai.operation.name`` (or
  traceloop's ``llm.request.type``) in ``_LLM_OPERATIONS`` -> yes; in
  ``_NON_LLM_OPERATIONS`` (agent / tool spans) -> no;
* else OpenInference's ``openinference.span.kind``: only LLM and EMBEDDING;
* else traceloop's ``traceloop.span.kind`` workflow/task/agent/tool -> no;
* else: yes when the span names a model or reports token usage.

Agent, tool and chain spans often repeat the model and the summed usage of the
LLM calls under them; counting them as LLM calls would count those tokens (and
their cost) twice, so they only get operation / conversation_id / user_id.

An LLM span's prompt and completion move into its message columns (genai_messages.py).

This runs on every span the collector receives, so a span whose attribute keys
carry none of the GenAI prefixes returns after one pass over its keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

from llm_observatory.collector.processors.genai_messages import fill_messages
from llm_observatory.collector.providers import infer_provider, normalize_provider
from llm_observatory.core.conventions import CONVERSATION_KEYS, USER_KEYS
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.settings import CollectorSettings

__all__ = ["extract_llm_fields"]

T = TypeVar("T")

# A span whose keys start with none of these is not a GenAI span.
_GENAI_PREFIXES = ("gen_ai.", "llm.", "openinference.", "traceloop.")

# --- precedence lists: current semconv > deprecated semconv > vendors -------------------

_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_OPERATION_KEYS = ("gen_ai.operation.name", "llm.request.type")
_REQUEST_MODEL_KEYS = ("gen_ai.request.model", "llm.request.model", "llm.model_name")
_RESPONSE_MODEL_KEYS = ("gen_ai.response.model", "llm.response.model")
_INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
)
_OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
)
_TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total")
_CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry
    "llm.token_count.prompt_details.cache_read",
)
_CACHE_CREATION_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry
    "llm.token_count.prompt_details.cache_write",
)
_REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)

# --- operations and span kinds ------------------------------------------------------------

# Vendor and older spellings -> OTel gen_ai.operation.name values.
_OPERATION_ALIASES = {
    "completion": "text_completion",
    "completions": "text_completion",
    "embedding": "embeddings",
    "embed": "embeddings",
}
_LLM_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "rerank", "responses"}
)
_NON_LLM_OPERATIONS = frozenset(
    {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "workflow", "task"}
)
_OI_LLM_KINDS = frozenset({"LLM", "EMBEDDING"})
_TRACELOOP_NON_LLM_KINDS = frozenset({"workflow", "task", "agent", "tool"})


_MAX_TOKENS = 2**63 - 1  # bigint column


# --- value coercion ------------------------------------------------------------------------


def _as_int(value: Any) -> int | None:
    """A token count from int, float or numeric string; None for anything else or negative."""
    kind = type(value)
    if kind is int:
        return value if 0 <= value <= _MAX_TOKENS else None
    if kind is str:
        try:
            return _as_int(int(value))
        except ValueError:
            try:
                return _as_int(float(value))
            except ValueError:
                return None
    if kind is float:
        if not math.isfinite(value) or value < 0 or value > _MAX_TOKENS:
            return None
        return round(value)
    return None  # bool, list, None, ...


def _as_float(value: Any) -> float | None:
    kind = type(value)
    if kind is float or kind is int:
        result = float(value)
    elif kind is str:
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) and result >= 0 else None


def _as_str(value: Any) -> str | None:
    if type(value) is str:
        value = value.strip()
        return value or None
    return None


def _as_id(value: Any) -> str | None:
    """Ids may arrive as ints; they are stored as text."""
    if type(value) is int:
        return str(value)
    return _as_str(value)


def _first(
    attrs: dict[str, Any], keys: tuple[str, ...], convert: Callable[[Any], T | None]
) -> T | None:
    """The first of `keys` whose value `convert` accepts (None when it refuses it)."""
    for key in keys:
        value = attrs.get(key)
        if value is not None and (result := convert(value)) is not None:
            return result
    return None


# --- the span --------------------------------------------------------------------------------


def _is_genai(attrs: dict[str, Any], events: list[Any]) -> bool:
    for key in attrs:
        if key.startswith(_GENAI_PREFIXES):
            return True
    for event in events:
        name = event.get("name") if isinstance(event, dict) else None
        if type(name) is str and name.startswith("gen_ai."):
            return True
    return False


def _operation(attrs: dict[str, Any]) -> str | None:
    raw = _first(attrs, _OPERATION_KEYS, _as_str)
    if raw is None:
        return None
    op = raw.lower()
    return _OPERATION_ALIASES.get(op, op)


def _reported_cost(attrs: dict[str, Any]) -> float | None:
    total = _as_float(attrs.get("llm.cost.total"))
    if total is not None:
        return total
    prompt = _as_float(attrs.get("llm.cost.prompt"))
    completion = _as_float(attrs.get("llm.cost.completion"))
    if prompt is not None or completion is not None:
        return (prompt or 0.0) + (completion or 0.0)
    return _as_float(attrs.get("gen_ai.usage.cost"))


def _classify(attrs: dict[str, Any], operation: str | None) -> bool | None:
    """True / False when the span says what it is, None when only its content can tell."""
    if operation in _LLM_OPERATIONS:
        return True
    if operation in _NON_LLM_OPERATIONS:
        return False
    oi_kind = attrs.get("openinference.span.kind")
    if type(oi_kind) is str and oi_kind:
        return oi_kind.upper() in _OI_LLM_KINDS
    tl_kind = attrs.get("traceloop.span.kind")
    if type(tl_kind) is str and tl_kind.lower() in _TRACELOOP_NON_LLM_KINDS:
        return False
    return None


def _oi_operation(attrs: dict[str, Any]) -> str | None:
    kind = attrs.get("openinference.span.kind")
    if type(kind) is not str:
        return None
    kind = kind.upper()
    if kind == "EMBEDDING":
        return "embeddings"
    if kind == "LLM":
        # OpenInference records the legacy completions API's prompts as llm.prompts.
        if "llm.prompts" in attrs or "llm.prompts.0.prompt.text" in attrs:
            return "text_completion"
        return "chat"
    return None


# Prompt/completion JSON nested deeper than this is kept as text (MAX_MESSAGE_DEPTH).
DEFAULT_MESSAGE_DEPTH: int = CollectorSettings.model_fields["max_message_depth"].default


def extract_llm_fields(span: SpanRecord, max_message_depth: int = DEFAULT_MESSAGE_DEPTH) -> None:
    """Fill span's LLM columns from its attributes and events; never raises."""
    attrs = span.attributes
    events = span.events
    if not isinstance(attrs, dict) or not _is_genai(attrs, events or ()):
        return
    try:
        _extract(span, attrs, max_message_depth)
    except Exception:
        # One odd span must not fail its batch. Every reader copes with wrong types;
        # this only guards a shape nobody foresaw.
        return


def _extract(span: SpanRecord, attrs: dict[str, Any], depth: int) -> None:
    operation = _operation(attrs)
    verdict = _classify(attrs, operation)
    request_model = _first(attrs, _REQUEST_MODEL_KEYS, _as_str)
    response_model = _first(attrs, _RESPONSE_MODEL_KEYS, _as_str)
    input_tokens = _first(attrs, _INPUT_TOKEN_KEYS, _as_int)
    output_tokens = _first(attrs, _OUTPUT_TOKEN_KEYS, _as_int)
    if verdict is None:
        verdict = (
            request_model is not None
            or response_model is not None
            or input_tokens is not None
            or output_tokens is not None
            or _first(attrs, _TOTAL_TOKEN_KEYS, _as_int) is not None
        )

    span.conversation_id = _first(attrs, CONVERSATION_KEYS, _as_id)
    span.user_id = _first(attrs, USER_KEYS, _as_id)
    if operation is None:
        operation = _oi_operation(attrs)
    span.operation = operation
    if not verdict:
        return

    span.is_llm = True
    span.request_model = request_model
    span.response_model = response_model
    model = response_model or request_model
    span.model = model
    raw_provider = _first(attrs, _PROVIDER_KEYS, _as_str)
    if raw_provider is not None:
        span.provider = normalize_provider(raw_provider)
    elif model is not None:
        span.provider = infer_provider(model)

    span.input_tokens = input_tokens
    span.output_tokens = output_tokens
    total = _first(attrs, _TOTAL_TOKEN_KEYS, _as_int)
    if total is None and input_tokens is not None:
        if output_tokens is not None:
            total = input_tokens + output_tokens
        elif operation == "embeddings":  # embeddings produce no output tokens
            total = input_tokens
    span.total_tokens = total
    span.cache_read_tokens = _first(attrs, _CACHE_READ_KEYS, _as_int)
    span.cache_creation_tokens = _first(attrs, _CACHE_CREATION_KEYS, _as_int)
    span.reasoning_tokens = _first(attrs, _REASONING_KEYS, _as_int)
    span.reported_cost_usd = _reported_cost(attrs)
    fill_messages(span, attrs, depth)
