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

This runs on every span the collector receives, so a span whose attribute keys
carry none of the GenAI prefixes returns after one pass over its keys.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from llm_observatory.collector.providers import infer_provider, normalize_provider
from llm_observatory.core.conventions import CONVERSATION_KEYS, USER_KEYS
from llm_observatory.core.records import SpanRecord
from llm_observatory.core.settings import CollectorSettings

__all__ = ["extract_llm_fields"]

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


# --- messages ------------------------------------------------------------------------------

_INDEXED_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
)
_INFERENCE_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
_MESSAGE_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_CHOICE_EVENT = "gen_ai.choice"
# Oldest convention: the whole prompt / completion as one attribute of one event.
_PROMPT_EVENT = "gen_ai.content.prompt"
_COMPLETION_EVENT = "gen_ai.content.completion"

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


def _first_int(attrs: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and (result := _as_int(value)) is not None:
            return result
    return None


def _first_str(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and (result := _as_str(value)) is not None:
            return result
    return None


def _id_str(attrs: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """Ids may arrive as ints; they are stored as text."""
    for key in keys:
        value = attrs.get(key)
        if value is None or type(value) is bool:
            continue
        if type(value) is int:
            return str(value)
        if (result := _as_str(value)) is not None:
            return result
    return None


# --- messages ------------------------------------------------------------------------------


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (it may be deep)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > deepest:
            deepest = level
        children = node.values() if type(node) is dict else node
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, level + 1))
    return deepest


def _parse_json_text(text: str, max_depth: int) -> Any:
    """JSON text parsed, or the text itself when it is not JSON or nests deeper than
    `max_depth` (kept as text: stored and shown, never walked again)."""
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    # Depth is at most the number of brackets: only a text with many is walked.
    if text.count("[") + text.count("{") > max_depth and _depth(parsed) > max_depth:
        return text
    return parsed


def _parse_content(value: Any, depth: int) -> Any:
    """A message attribute as stored: JSON text parsed, other text kept, empty -> None."""
    if value is None:
        return None
    if type(value) is str:
        text = value.strip()
        if not text:
            return None
        if text[0] in "[{":
            parsed = _parse_json_text(text, depth)
            return value if parsed is text else parsed
        return value
    if isinstance(value, list | tuple):
        return [_parse_content(item, depth) for item in value] or None
    if isinstance(value, dict):
        return value or None
    return None


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    """Set target[a][b][c] = value for path "a.b.c", creating dicts on the way."""
    *parents, leaf = path.split(".")
    node = target
    for part in parents:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            return  # "content" is both a leaf and a parent: keep the leaf
        node = child
    if not isinstance(node.get(leaf), dict):
        node[leaf] = value


def _listify(node: Any) -> Any:
    """Turn dicts keyed only by decimal indices into lists ordered by index."""
    if not isinstance(node, dict):
        return node
    for key, child in node.items():
        if isinstance(child, dict):
            node[key] = _listify(child)
    if node and all(key.isascii() and key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def _indexed_messages(attrs: dict[str, Any]) -> dict[str, list[Any]]:
    """Assemble ``<prefix>.N.field...`` attributes into message lists, one per prefix."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(_INDEXED_PREFIXES):
            continue
        # Every prefix is "a.b.": cut after the second dot.
        prefix = key[: key.index(".", key.index(".") + 1) + 1]
        rest = key[len(prefix) :]
        index, _, field = rest.partition(".")
        if not field or not (index.isascii() and index.isdigit()):
            continue
        _set_path(found.setdefault(prefix, {}).setdefault(index, {}), field, value)
    result: dict[str, list[Any]] = {}
    for prefix, by_index in found.items():
        messages = _listify(by_index)
        if not isinstance(messages, list):
            continue
        if prefix.startswith("llm."):  # OpenInference: llm.input_messages.N.message.role
            messages = [m.get("message", m) if isinstance(m, dict) else m for m in messages]
        result[prefix] = messages
    return result


def _event_body(event: dict[str, Any]) -> dict[str, Any]:
    """A span event's payload: its attributes but the metadata (gen_ai.*, event.*)."""
    payload: dict[str, Any] = {}
    attributes = event.get("attributes")
    if isinstance(attributes, dict):
        for key, value in attributes.items():
            if type(key) is str and not key.startswith(("gen_ai.", "event.")):
                _set_path(payload, key, value)
    result = _listify(payload)
    return result if isinstance(result, dict) else {"content": result}


def _messages_from_events(events: list[Any], depth: int) -> tuple[Any, Any]:
    """(input, output) messages carried by GenAI events, None where there are none."""
    inputs: list[Any] = []
    outputs: list[Any] = []
    whole_in: Any = None  # a whole message list from one event beats per-message events
    whole_out: Any = None
    for event in events:
        if not isinstance(event, dict):
            continue
        name = event.get("name")
        if type(name) is not str or not name.startswith("gen_ai."):
            continue
        attrs = event.get("attributes")
        if not isinstance(attrs, dict):
            attrs = {}
        if name == _INFERENCE_DETAILS_EVENT:
            whole_in = _with_system(
                _parse_content(attrs.get("gen_ai.input.messages"), depth),
                attrs.get("gen_ai.system_instructions"),
                depth,
            )
            whole_out = _parse_content(attrs.get("gen_ai.output.messages"), depth)
        elif (role := _MESSAGE_EVENT_ROLES.get(name)) is not None:
            message = _event_body(event)
            message.setdefault("role", role)
            inputs.append(message)
        elif name == _CHOICE_EVENT:
            outputs.append(_choice_message(_event_body(event)))
        elif name == _PROMPT_EVENT and whole_in is None:
            whole_in = _parse_content(attrs.get("gen_ai.prompt"), depth)
        elif name == _COMPLETION_EVENT and whole_out is None:
            whole_out = _parse_content(attrs.get("gen_ai.completion"), depth)
    return (
        whole_in if whole_in is not None else (inputs or None),
        whole_out if whole_out is not None else (outputs or None),
    )


def _choice_message(payload: dict[str, Any]) -> dict[str, Any]:
    """gen_ai.choice {index, finish_reason, message: {...}} -> one flat assistant message."""
    message = payload.get("message")
    result: dict[str, Any] = dict(message) if isinstance(message, dict) else {}
    result.setdefault("role", "assistant")
    for key, value in payload.items():
        if key != "message":
            result.setdefault(key, value)
    return result


def _with_system(messages: Any, instructions: Any, depth: int) -> Any:
    """Put gen_ai.system_instructions in front of the input messages as a system message."""
    parsed = _parse_content(instructions, depth)
    if parsed is None:
        return messages
    system = (
        {"role": "system", "parts": parsed}
        if isinstance(parsed, list)
        else {"role": "system", "content": parsed}
    )
    if messages is None:
        return [system]
    if isinstance(messages, list):
        return [system, *messages]
    return [system, {"role": "user", "content": messages}]


def _fill_messages(span: SpanRecord, attrs: dict[str, Any], depth: int) -> None:
    """Move the prompt and completion into input_messages / output_messages.

    Moved, not copied: the attributes they came from are removed, so a row stores each
    message once and PII redaction scans it once.
    """
    # Current semconv attributes first, then the GenAI events, then deprecated and
    # vendor attributes: the precedence the fields follow.
    used: list[str] = []
    used_prefixes: list[str] = []
    system = attrs.get("gen_ai.system_instructions")
    inputs = _parse_content(attrs.get("gen_ai.input.messages"), depth)
    outputs = _parse_content(attrs.get("gen_ai.output.messages"), depth)
    if inputs is not None or system is not None:
        inputs = _with_system(inputs, system, depth)
        used += ["gen_ai.input.messages", "gen_ai.system_instructions"]
    if outputs is not None:
        used.append("gen_ai.output.messages")
    if (inputs is None or outputs is None) and span.events:
        event_in, event_out = _messages_from_events(span.events, depth)
        inputs = event_in if inputs is None else inputs
        outputs = event_out if outputs is None else outputs
    if inputs is None or outputs is None:
        if inputs is None:
            inputs = _parse_content(attrs.get("gen_ai.prompt"), depth)
            used.append("gen_ai.prompt")
        if outputs is None:
            outputs = _parse_content(attrs.get("gen_ai.completion"), depth)
            used.append("gen_ai.completion")
        if inputs is None or outputs is None:
            indexed = _indexed_messages(attrs)
            if inputs is None:
                for prefix in ("gen_ai.prompt.", "llm.input_messages."):
                    if indexed.get(prefix):
                        inputs = indexed[prefix]
                        used_prefixes.append(prefix)
                        break
            if outputs is None:
                for prefix in ("gen_ai.completion.", "llm.output_messages."):
                    if indexed.get(prefix):
                        outputs = indexed[prefix]
                        used_prefixes.append(prefix)
                        break
        if inputs is None:
            inputs = _parse_content(attrs.get("input.value"), depth)
            used.append("input.value")
        if outputs is None:
            outputs = _parse_content(attrs.get("output.value"), depth)
            used.append("output.value")
    span.input_messages = inputs
    span.output_messages = outputs
    for key in used:
        attrs.pop(key, None)
    if used_prefixes:
        for key in [k for k in attrs if k.startswith(tuple(used_prefixes))]:
            del attrs[key]


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
    raw = _first_str(attrs, _OPERATION_KEYS)
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
    request_model = _first_str(attrs, _REQUEST_MODEL_KEYS)
    response_model = _first_str(attrs, _RESPONSE_MODEL_KEYS)
    input_tokens = _first_int(attrs, _INPUT_TOKEN_KEYS)
    output_tokens = _first_int(attrs, _OUTPUT_TOKEN_KEYS)
    if verdict is None:
        verdict = (
            request_model is not None
            or response_model is not None
            or input_tokens is not None
            or output_tokens is not None
            or _first_int(attrs, _TOTAL_TOKEN_KEYS) is not None
        )

    span.conversation_id = _id_str(attrs, CONVERSATION_KEYS)
    span.user_id = _id_str(attrs, USER_KEYS)
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
    raw_provider = _first_str(attrs, _PROVIDER_KEYS)
    if raw_provider is not None:
        span.provider = normalize_provider(raw_provider)
    elif model is not None:
        span.provider = infer_provider(model)

    span.input_tokens = input_tokens
    span.output_tokens = output_tokens
    total = _first_int(attrs, _TOTAL_TOKEN_KEYS)
    if total is None and input_tokens is not None:
        if output_tokens is not None:
            total = input_tokens + output_tokens
        elif operation == "embeddings":  # embeddings produce no output tokens
            total = input_tokens
    span.total_tokens = total
    span.cache_read_tokens = _first_int(attrs, _CACHE_READ_KEYS)
    span.cache_creation_tokens = _first_int(attrs, _CACHE_CREATION_KEYS)
    span.reasoning_tokens = _first_int(attrs, _REASONING_KEYS)
    span.reported_cost_usd = _reported_cost(attrs)
    _fill_messages(span, attrs, depth)
