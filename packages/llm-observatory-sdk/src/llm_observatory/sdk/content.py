"""What a span may say about its content: the capture opt-in, messages in the GenAI shape.

Message content is recorded only on request: ``capture_content=True`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (also ``span_only`` /
``span_and_event``, the values the official instrumentations take). Prompts often
carry personal data; the collector redacts PII, but not storing it is better still.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

_CAPTURE_VALUES = {"true", "1", "yes", "span_only", "span_and_event"}


def capture_content_enabled(explicit: bool | None = None) -> bool:
    if explicit is not None:
        return explicit
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "")
    return value.strip().lower() in _CAPTURE_VALUES


def messages_json(messages: Any, role: str = "user") -> str:
    """Messages in the gen_ai.input/output.messages shape: [{role, parts: [{type, content}]}].

    Accepts that shape, OpenAI-style {"role", "content"} dicts, or plain strings.
    """
    if isinstance(messages, str | Mapping):
        messages = [messages]
    converted = []
    for message in messages:
        if isinstance(message, str):
            converted.append({"role": role, "parts": [{"type": "text", "content": message}]})
        elif "parts" in message:
            converted.append(dict(message))
        else:
            item = {k: v for k, v in message.items() if k != "content"}
            item.setdefault("role", role)
            content = message.get("content")
            item["parts"] = [] if content is None else [{"type": "text", "content": content}]
            converted.append(item)
    return json.dumps(converted, default=str)


def error_type(exc: BaseException) -> str:
    """The class name, as the OpenAI instrumentation records it (a class defined in a
    function loses its `f.<locals>.` prefix: low cardinality, readable)."""
    return type(exc).__qualname__.rsplit("<locals>.", 1)[-1]
