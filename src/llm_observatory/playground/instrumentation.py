"""The official OpenAI client and its OpenTelemetry instrumentation, as the playground runs them.

Message content is on and the newest GenAI conventions are used (the playground's
prompts are made up, and the dashboards and PII redaction have something to show);
a deployment's own values of these variables win.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from llm_observatory.sdk import Telemetry

INSTRUMENTATION_DEFAULTS = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
}

_error_type_fixed = False


def apply_instrumentation_defaults() -> None:
    for key, value in INSTRUMENTATION_DEFAULTS.items():
        os.environ.setdefault(key, value)


def openai_client(api_key: str, base_url: str) -> Any:
    import openai

    # No retries: every attempt is one span, and a failure scenario fails at once.
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=30.0)


def instrument_openai(telemetry: Telemetry) -> Any:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    fix_genai_error_type()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        logger_provider=telemetry.logger_provider,
    )
    return instrumentor


def fix_genai_error_type() -> None:
    """Work-around for the pinned instrumentation (2.4b0 with opentelemetry-util-genai 1.1b0).

    The instrumentation fails an invocation with ``Error(type=type(exc), ...)``, a
    class, where util-genai 1.1b0 expects the ``error.type`` string; the span then
    carries ``"<class 'openai.RateLimitError'>"`` and the SDK warns about an invalid
    attribute type. Until both are released in step, convert the class to its name,
    which is what the conventions ask for. Applied once; a no-op when the internals
    have moved on.
    """
    global _error_type_fixed
    if _error_type_fixed:
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
    _error_type_fixed = True
