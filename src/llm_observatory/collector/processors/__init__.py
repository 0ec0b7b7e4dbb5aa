"""What happens to records between decoding and storage: the collector's processors.

Per signal, a chain of small steps, each a callable that edits one record in place:

    traces   sampling (whole request) -> bounds -> GenAI fields -> PII -> bounds -> cost
    metrics  bounds -> PII -> bounds
    logs     bounds -> PII -> bounds

The bounds run again after the steps that write text (GenAI fields come from
attributes only cut to the value length; a PII placeholder may be longer than what it
replaced); cost runs last, on the bounded model names. A step that raises refuses
that record alone (OTLP partial success, with the reason); the other records go on.
Resource attribute dicts are shared by the records of one resource, so they are
redacted once per resource and their PII kinds added to each of its records.
"""

from __future__ import annotations

import functools
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from llm_observatory.collector import labels, metrics
from llm_observatory.collector.limits import Limits
from llm_observatory.collector.processors import pii
from llm_observatory.collector.processors.bounds import Bounds
from llm_observatory.collector.processors.cost import CostCalculator
from llm_observatory.collector.processors.genai import extract_llm_fields
from llm_observatory.collector.processors.sampling import TraceSampler
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import Rejection
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.signals import SIGNALS, Signal

log = get_logger(__name__)

Step = Callable[[Any], None]


def describe(signal: Signal, record: Any) -> str:
    """A short, bounded label of a record for partial-success messages."""
    if signal.name == "traces":
        return f"span {record.name[:100]!r} ({record.trace_id}/{record.span_id})"
    if signal.name == "metrics":
        return f"data point of {record.metric_name[:100]!r}"
    where = f" ({record.trace_id}/{record.span_id})" if record.trace_id else ""
    return f"log record{where}"


class Processors:
    def __init__(self, settings: CollectorSettings, limits: Limits) -> None:
        self.sampler = TraceSampler(settings.enable_sampling, settings.sampling_rate)
        self.cost: CostCalculator | None = None
        if settings.enable_cost_calculation:
            self.cost = CostCalculator(settings.cost_price_file or None)
            self.cost.on_miss = _count_cost_miss
        self.redactor = (
            pii.Redactor(max_scan_bytes=settings.pii_max_scan_bytes)
            if settings.enable_pii_detection
            else None
        )
        depth = limits.max_message_depth
        self.chains: dict[str, list[Step]] = {}
        for signal in SIGNALS.values():
            bounds = Bounds(signal, limits)
            steps: list[Step] = [bounds]  # first too: PII need not scan what is cut anyway
            if signal.name == "traces":
                steps.append(lambda span: extract_llm_fields(span, depth))
            if self.redactor is not None:
                steps.append(self._redaction(signal))
            if len(steps) > 1:  # GenAI fields and PII placeholders are new text to bound
                steps.append(bounds)
            if signal.name == "traces" and self.cost is not None:
                steps.append(self._price)
            self.chains[signal.name] = steps

    def _redaction(self, signal: Signal) -> Step:
        redactor = self.redactor
        assert redactor is not None
        # Resources are redacted once each, before the records (see run()).
        redact = {"traces": redactor.span, "metrics": redactor.metric_point, "logs": redactor.log}
        return functools.partial(redact[signal.name], resource=False)

    def _price(self, span: Any) -> None:
        if span.is_llm:
            span.cost_usd = self.cost.cost(span)  # type: ignore[union-attr]

    def run(
        self, signal: Signal, records: list[Any], rejected: Rejection, ingest_key: str | None
    ) -> list[Any]:
        """The records that went through every step (edited in place), in order."""
        if signal.name == "traces":
            records = self.sampler.keep(records)
        resource_kinds = self._redact_resources(records) if self.redactor else {}
        steps = self.chains[signal.name]
        kept: list[Any] = []
        for record in records:
            try:
                for step in steps:
                    step(record)
            except Exception as exc:
                rejected.add(f"{describe(signal, record)} rejected: cannot be processed")
                log.warning("record refused", signal=signal.name, error=type(exc).__name__)
                continue
            if resource_kinds:
                kinds = resource_kinds.get(id(record.resource_attributes))
                if kinds and hasattr(record, "pii_types"):
                    record.pii_types = sorted(kinds.union(record.pii_types))
            if ingest_key is not None:
                record.ingest_key = ingest_key
            kept.append(record)
        self._count(signal, kept)
        return kept

    def _redact_resources(self, records: list[Any]) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        redactor = self.redactor
        assert redactor is not None
        for record in records:
            resource = record.resource_attributes
            key = id(resource)
            if key not in found:
                kinds: set[str] = set()
                redactor.attributes(resource, kinds)
                found[key] = kinds
        return found

    @staticmethod
    def _count(signal: Signal, records: list[Any]) -> None:
        pii_kinds: Tally[str] = Tally()
        providers: Tally[str] = Tally()
        for record in records:
            kinds = getattr(record, "pii_types", None)
            if kinds:
                pii_kinds.update(kinds)
            if signal.name == "traces" and record.is_llm:
                providers[labels.provider(record.provider)] += 1
        for kind, count in pii_kinds.items():
            metrics.PII_DETECTIONS.labels(kind).inc(count)
        for provider, count in providers.items():
            metrics.LLM_SPANS.labels(provider).inc(count)


def _count_cost_miss(provider: str | None, model: str | None) -> None:
    metrics.COST_MISSES.labels(labels.provider(provider)).inc()
    log.debug("no price for model", provider=provider, model=(model or "")[:100])
