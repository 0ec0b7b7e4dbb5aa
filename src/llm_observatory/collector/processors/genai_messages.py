"""An LLM span's prompt and completion, moved into input_messages / output_messages.

They arrive in many shapes, read in this precedence: the current GenAI attributes
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``),
then GenAI span events (one inference-details event, or one event per message), then
deprecated and vendor attributes (``gen_ai.prompt`` / ``gen_ai.completion``, indexed
``<prefix>.N.field`` attributes, OpenInference's ``input.value`` / ``output.value``).
JSON text is parsed unless it nests deeper than the configured depth (then it stays text).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial
from typing import Any

import orjson

from llm_observatory.core.records import SpanRecord

__all__ = ["fill_messages"]

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
# Where the deprecated and vendor conventions put each side, in precedence order: one
# attribute, then indexed attributes under these prefixes, then OpenInference's value.
_LEGACY_INPUT = ("gen_ai.prompt", ("gen_ai.prompt.", "llm.input_messages."), "input.value")
_LEGACY_OUTPUT = (
    "gen_ai.completion",
    ("gen_ai.completion.", "llm.output_messages."),
    "output.value",
)


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


def _legacy_messages(
    attrs: dict[str, Any],
    places: tuple[str, tuple[str, ...], str],
    depth: int,
    indexed: Callable[[], dict[str, list[Any]]],
    used: list[str],
    used_prefixes: list[str],
) -> Any:
    """One side's messages from the deprecated and vendor attributes, noting those used."""
    whole, prefixes, value_key = places
    used.append(whole)
    messages = _parse_content(attrs.get(whole), depth)
    if messages is not None:
        return messages
    for prefix in prefixes:
        if found := indexed().get(prefix):
            used_prefixes.append(prefix)
            return found
    used.append(value_key)
    return _parse_content(attrs.get(value_key), depth)


def fill_messages(span: SpanRecord, attrs: dict[str, Any], depth: int) -> None:
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
        indexed = cache(partial(_indexed_messages, attrs))
        if inputs is None:
            inputs = _legacy_messages(attrs, _LEGACY_INPUT, depth, indexed, used, used_prefixes)
        if outputs is None:
            outputs = _legacy_messages(attrs, _LEGACY_OUTPUT, depth, indexed, used, used_prefixes)
    span.input_messages = inputs
    span.output_messages = outputs
    for key in used:
        attrs.pop(key, None)
    if used_prefixes:
        for key in [k for k in attrs if k.startswith(tuple(used_prefixes))]:
            del attrs[key]
