"""Head sampling of whole traces: ENABLE_SAMPLING with SAMPLING_RATE in [0, 1].

The decision depends on the trace id only (its low 64 bits against a threshold), so
every span of a trace is kept or dropped together, in every collector process.
"""

from __future__ import annotations

from llm_observatory.core.records import SpanRecord


class TraceSampler:
    def __init__(self, enabled: bool, rate: float) -> None:
        self.active = enabled and rate < 1.0
        self.threshold = int(rate * (1 << 64))

    def keep(self, spans: list[SpanRecord]) -> list[SpanRecord]:
        if not self.active:
            return spans
        threshold = self.threshold
        return [s for s in spans if int(s.trace_id[16:], 16) < threshold]
