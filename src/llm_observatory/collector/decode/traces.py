"""ExportTraceServiceRequest -> SpanRecords, refusing spans that cannot be stored.

A span is refused (and counted for OTLP partial success) when its ids are missing or
malformed or its times make no sense; every other span is kept, cut to the limits.
Written for speed: it runs for every span the collector receives.
"""

from __future__ import annotations

from typing import Any

from llm_observatory.collector.decode.values import attributes, scopes
from llm_observatory.collector.limits import Limits, note
from llm_observatory.core.records import SPAN_KINDS, STATUS_CODES, Rejection, SpanRecord

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_N_KINDS = len(SPAN_KINDS)
_N_STATUS = len(STATUS_CODES)


def span_problem(trace_id: bytes, span_id: bytes, parent: bytes, start: int, end: int) -> str:
    """Why a span cannot be stored, or "" when it can."""
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id is all zeros"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    if span_id == _ZERO_SPAN_ID:
        return "span_id is all zeros"
    if parent and len(parent) != 8:
        return f"parent_span_id must be 8 bytes or empty, got {len(parent)}"
    if start == 0:
        return "start_time_unix_nano is missing"
    if end < start:
        return f"end_time_unix_nano {end} is before start_time_unix_nano {start}"
    return ""


def _entries(items: Any, limit: int, limits: Limits, span_attrs: dict, kind: str) -> list:
    dropped = len(items) - limit
    if dropped > 0:
        items = items[:limit]
        note(span_attrs, kind, dropped)
    if kind == "events":
        return [
            {
                "name": ev.name,
                "time_unix_nano": ev.time_unix_nano,
                "attributes": attributes(ev.attributes, limits),
            }
            for ev in items
        ]
    return [
        {
            "trace_id": ln.trace_id.hex(),
            "span_id": ln.span_id.hex(),
            "attributes": attributes(ln.attributes, limits),
        }
        for ln in items
    ]


def decode(request: Any, limits: Limits, rejected: Rejection) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    append = records.append
    kinds = SPAN_KINDS
    codes = STATUS_CODES
    zero_sid = _ZERO_SPAN_ID
    max_events = limits.max_events
    max_links = limits.max_links

    for resource_attributes, service, scope_name, ss in scopes(
        request.resource_spans, "scope_spans", limits
    ):
        for sp in ss.spans:
            trace_id = sp.trace_id
            span_id = sp.span_id
            parent = sp.parent_span_id
            start = sp.start_time_unix_nano
            end = sp.end_time_unix_nano
            problem = span_problem(trace_id, span_id, parent, start, end)
            if problem:
                rejected.add(
                    f"span {sp.name[:100]!r} ({trace_id.hex()[:32]}/{span_id.hex()[:16]}) "
                    f"rejected: {problem}"
                )
                continue
            span_attrs = attributes(sp.attributes, limits)
            events = (
                _entries(sp.events, max_events, limits, span_attrs, "events") if sp.events else []
            )
            links = _entries(sp.links, max_links, limits, span_attrs, "links") if sp.links else []
            kind = sp.kind
            status = sp.status
            code = status.code
            append(
                SpanRecord(
                    trace_id=trace_id.hex(),
                    span_id=span_id.hex(),
                    # Empty means root; some SDKs send 8 zero bytes for it instead.
                    parent_span_id=parent.hex() if parent and parent != zero_sid else None,
                    name=sp.name,
                    kind=kinds[kind] if 0 <= kind < _N_KINDS else "unspecified",
                    start_time_unix_nano=start,
                    end_time_unix_nano=end,
                    status_code=codes[code] if 0 <= code < _N_STATUS else "unset",
                    status_message=status.message or None,
                    service_name=service,
                    scope_name=scope_name,
                    attributes=span_attrs,
                    resource_attributes=resource_attributes,
                    events=events,
                    links=links,
                )
            )
    return records
