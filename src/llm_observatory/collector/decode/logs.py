"""ExportLogsServiceRequest -> LogRecordRows.

A record is refused (OTLP partial success) when it has no time at all or malformed
trace/span ids; all-zero ids, which some SDKs send outside a span, mean "no span".
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from llm_observatory.collector.decode.values import any_value, attributes, scopes
from llm_observatory.collector.limits import Limits
from llm_observatory.core.records import LogRecordRow, Rejection

# LogRecord.event_name arrived in opentelemetry-proto 1.5 (Python package 1.32);
# older packages only have the `event.name` attribute.
_HAS_EVENT_NAME = "event_name" in LogRecord.DESCRIPTOR.fields_by_name
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)


def log_problem(time: int, trace_id: bytes, span_id: bytes) -> str:
    """Why a log record cannot be stored, or "" when it can."""
    if time == 0:
        return "both time_unix_nano and observed_time_unix_nano are missing"
    if trace_id and len(trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(trace_id)}"
    if span_id and len(span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span_id)}"
    return ""


def decode(request: Any, limits: Limits, rejected: Rejection) -> list[LogRecordRow]:
    records: list[LogRecordRow] = []
    append = records.append
    max_length = limits.max_attribute_value_length
    for resource_attributes, service, scope_name, sl in scopes(
        request.resource_logs, "scope_logs", limits
    ):
        for lr in sl.log_records:
            observed = lr.observed_time_unix_nano
            t = lr.time_unix_nano or observed
            trace_id = lr.trace_id
            span_id = lr.span_id
            problem = log_problem(t, trace_id, span_id)
            if problem:
                rejected.add(f"log record rejected: {problem}")
                continue
            attrs = attributes(lr.attributes, limits)
            event_name = lr.event_name if _HAS_EVENT_NAME else ""
            if not event_name:
                attr_name = attrs.get("event.name")
                event_name = attr_name if isinstance(attr_name, str) else ""
            body = lr.body
            if trace_id == _ZERO_TRACE_ID:
                trace_id = b""
            if span_id == _ZERO_SPAN_ID:
                span_id = b""
            append(
                LogRecordRow(
                    time_unix_nano=t,
                    observed_time_unix_nano=observed or None,
                    service_name=service,
                    scope_name=scope_name,
                    severity_number=lr.severity_number or None,
                    severity_text=lr.severity_text or None,
                    body=any_value(body, max_length) if body.WhichOneof("value") else None,
                    trace_id=trace_id.hex() or None,
                    span_id=span_id.hex() or None,
                    event_name=event_name or None,
                    attributes=attrs,
                    resource_attributes=resource_attributes,
                )
            )
    return records
