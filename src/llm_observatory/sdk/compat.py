"""Work-around for the pinned OpenAI instrumentation (2.4b0 with opentelemetry-util-genai 1.1b0).

The instrumentation fails an invocation with ``Error(type=type(exc), ...)``, a class,
where util-genai 1.1b0 expects the ``error.type`` string; the span then carries
``"<class 'openai.RateLimitError'>"`` and the SDK warns about an invalid attribute
type. Until both are released in step, convert the class to its name, which is what
the conventions ask for. Applied once; a no-op when the internals have moved on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_applied = False


def fix_genai_error_type() -> None:
    global _applied
    if _applied:
        return
    try:
        from opentelemetry.util.genai._invocation import GenAIInvocation
    except ImportError:
        return
    original = getattr(GenAIInvocation, "_apply_error_attributes", None)
    if original is None:
        return

    def apply(self: Any, error: Any) -> None:
        if isinstance(getattr(error, "type", None), type) and dataclasses.is_dataclass(error):
            error = dataclasses.replace(error, type=error.type.__qualname__)
        original(self, error)

    GenAIInvocation._apply_error_attributes = apply  # type: ignore[method-assign]
    _applied = True
