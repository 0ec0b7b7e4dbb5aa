"""The three OTLP signals and everything the stack knows about each, in one place.

The collector's receivers, decoders and exporter, storage's ingest API and writers, and
the metrics all iterate `SIGNALS` or look a signal up by name; none of them lists the
signals again. A layer that needs per-signal code (the decoders) keys it by
`Signal.name`, and a test checks that it covers every signal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llm_observatory.core.records import LogRecordRow, MetricPointRecord, SpanRecord
from llm_observatory.core.rows import LOG_RECORDS, METRIC_POINTS, SPANS, TableSpec


@dataclass(frozen=True)
class Signal:
    name: str  # "traces": URL path part, metric label, key of per-signal code
    item: str  # what one record is called in answers and logs: "span"
    record_type: type
    table: TableSpec
    request_type: Any  # the OTLP export request message class
    response_type: Any
    rejected_field: str  # the partial-success count field of the response
    grpc_service: str  # full name of the OTLP gRPC service

    @property
    def http_path(self) -> str:
        return f"/v1/{self.name}"

    def response(self, rejected: int = 0, message: str = "") -> Any:
        """An OTLP export response; partial success when something was rejected."""
        answer = self.response_type()
        if rejected:
            setattr(answer.partial_success, self.rejected_field, rejected)
            answer.partial_success.error_message = message
        return answer


TRACES = Signal(
    name="traces",
    item="span",
    record_type=SpanRecord,
    table=SPANS,
    request_type=ExportTraceServiceRequest,
    response_type=ExportTraceServiceResponse,
    rejected_field="rejected_spans",
    grpc_service="opentelemetry.proto.collector.trace.v1.TraceService",
)
METRICS = Signal(
    name="metrics",
    item="data point",
    record_type=MetricPointRecord,
    table=METRIC_POINTS,
    request_type=ExportMetricsServiceRequest,
    response_type=ExportMetricsServiceResponse,
    rejected_field="rejected_data_points",
    grpc_service="opentelemetry.proto.collector.metrics.v1.MetricsService",
)
LOGS = Signal(
    name="logs",
    item="log record",
    record_type=LogRecordRow,
    table=LOG_RECORDS,
    request_type=ExportLogsServiceRequest,
    response_type=ExportLogsServiceResponse,
    rejected_field="rejected_log_records",
    grpc_service="opentelemetry.proto.collector.logs.v1.LogsService",
)

SIGNALS: dict[str, Signal] = {signal.name: signal for signal in (TRACES, METRICS, LOGS)}
BY_HTTP_PATH: dict[str, Signal] = {signal.http_path: signal for signal in SIGNALS.values()}
