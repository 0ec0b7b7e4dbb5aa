"""A span's input and output messages as a chat transcript: roles, text, tool calls, results.

Stored messages keep the shape the instrumentation sent (the collector moves them,
it does not rewrite them), so this reads the shapes found in practice:

* GenAI semantic conventions: {role, parts: [{type: text, content}, {type: tool_call,
  id, name, arguments}, {type: tool_call_response, id, response}], finish_reason}
* OpenAI chat style (OpenLLMetry, the SDK's helpers): {role, content, tool_calls:
  [{id, function: {name, arguments}}], tool_call_id}; content may be a list of parts
* OpenInference: {role, content, tool_calls: [{tool_call: {id, function: {...}}}]}
* a bare string or any other JSON (input.value): shown as one message of its text

Anything unrecognised is shown as JSON rather than dropped. Work is bounded: at most
MAX_MESSAGES messages and MAX_TEXT characters of each text are shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGES = 200
MAX_TEXT = 20_000
KNOWN_ROLES = {"system", "user", "assistant", "tool", "developer", "function", "model"}


@dataclass
class ToolCall:
    name: str
    arguments: str
    call_id: str | None = None


@dataclass
class Message:
    role: str
    texts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_result: str | None = None
    tool_call_id: str | None = None
    finish_reason: str | None = None
    truncated: bool = False

    @property
    def css_role(self) -> str:
        return self.role if self.role in KNOWN_ROLES else "other"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _clip(message: Message, text: str) -> str:
    if len(text) > MAX_TEXT:
        message.truncated = True
        return text[:MAX_TEXT]
    return text


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        try:
            return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
        except ValueError:
            return value
    return _text(value)


def _tool_call(raw: Any) -> ToolCall | None:
    if not isinstance(raw, dict):
        return None
    raw = raw.get("tool_call", raw) if isinstance(raw.get("tool_call"), dict) else raw
    function = raw.get("function") if isinstance(raw.get("function"), dict) else {}
    name = raw.get("name") or function.get("name") or "tool"
    arguments = raw.get("arguments", function.get("arguments"))
    call_id = raw.get("id") or raw.get("tool_call_id")
    return ToolCall(str(name), _arguments(arguments) if arguments is not None else "", call_id)


def _add_part(message: Message, part: Any) -> None:
    if isinstance(part, str):
        message.texts.append(_clip(message, part))
        return
    if not isinstance(part, dict):
        message.texts.append(_clip(message, _text(part)))
        return
    kind = part.get("type")
    if kind in {"tool_call", "function_call", "tool_use"}:
        call = _tool_call(part)
        if call is not None:
            message.tool_calls.append(call)
    elif kind in {"tool_call_response", "tool_result", "function_call_output"}:
        result = part.get("response", part.get("result", part.get("content", part.get("output"))))
        message.tool_result = _clip(message, _text(result))
        message.tool_call_id = message.tool_call_id or part.get("id") or part.get("tool_call_id")
    elif "content" in part or "text" in part:
        content = part.get("content", part.get("text"))
        message.texts.append(_clip(message, _text(content)))
    else:
        message.texts.append(_clip(message, _text(part)))


def _message(raw: Any, default_role: str) -> Message:
    if not isinstance(raw, dict):
        message = Message(default_role)
        message.texts.append(_clip(message, _text(raw)))
        return message
    role = raw.get("role") or default_role
    message = Message(str(role))
    message.finish_reason = raw.get("finish_reason")
    message.tool_call_id = raw.get("tool_call_id")
    parts = raw.get("parts")
    content = raw.get("content")
    if isinstance(parts, list):
        for part in parts:
            _add_part(message, part)
    elif isinstance(content, list):
        for part in content:
            _add_part(message, part)
    elif content is not None:
        if message.role == "tool":
            message.tool_result = _clip(message, _text(content))
        else:
            message.texts.append(_clip(message, _text(content)))
    for raw_call in raw.get("tool_calls") or []:
        call = _tool_call(raw_call)
        if call is not None:
            message.tool_calls.append(call)
    if not (message.texts or message.tool_calls or message.tool_result is not None):
        rest = {k: v for k, v in raw.items() if k not in {"role", "finish_reason"}}
        if rest:
            message.texts.append(_clip(message, _text(rest)))
    return message


def transcript(messages: Any, default_role: str) -> list[Message]:
    """Messages to show, in order; [] when there are none (content capture off)."""
    if messages is None or messages == [] or messages == "":
        return []
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return [_message(messages, default_role)]
    if isinstance(messages, dict) and isinstance(messages.get("messages"), list):
        messages = messages["messages"]
    items = messages if isinstance(messages, list) else [messages]
    return [_message(item, default_role) for item in items[:MAX_MESSAGES]]


@dataclass
class Call:
    """One LLM call of a conversation: what was new in its prompt, and its answer."""

    span: Any
    new_input: list[Message]
    repeated: int  # input messages already shown by earlier calls
    output: list[Message]


@dataclass
class Turn:
    """One trace of a session, with its calls in order."""

    trace: Any
    calls: list[Call]


def _fingerprint(message: Message) -> tuple:
    calls = tuple((c.name, c.arguments) for c in message.tool_calls)
    return (message.role, tuple(message.texts), calls, message.tool_result)


def conversation(traces: list[Any]) -> list[Turn]:
    """A session's traces as one conversation.

    Chat applications send the whole history with every call, so each call's prompt
    usually starts with everything shown before: only what follows is shown again.
    """
    shown: list[tuple] = []
    turns = []
    for trace in traces:
        calls = []
        for span in trace.calls:
            inputs = transcript(span.input_messages, "user")
            outputs = transcript(span.output_messages, "assistant")
            prints = [_fingerprint(m) for m in inputs]
            repeated = 0
            while (
                repeated < len(prints)
                and repeated < len(shown)
                and prints[repeated] == shown[repeated]
            ):
                repeated += 1
            calls.append(Call(span, inputs[repeated:], repeated, outputs))
            shown = prints + [_fingerprint(m) for m in outputs]
        turns.append(Turn(trace, calls))
    return turns
