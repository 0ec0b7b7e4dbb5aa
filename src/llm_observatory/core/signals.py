"""The three OTLP signals and everything the stack knows about each, in one place.

The collector's receivers, decoders and exporter, storage's ingest API and writers, and
the metrics all iterate `SIGNALS` or look a signal up by name; none of them lists the
signals again. A layer that needs per-signal code (the decoders) keys it by
`Signal.name`, and a test checks that it covers every signal here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

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

    @classmethod
    def of_service(
        cls,
        name: str,
        item: str,
        record_type: type,
        table: TableSpec,
        service_module: ModuleType,
        rejected_field: str,
    ) -> Signal:
        """A signal whose OTLP service, request and response come from its *_service_pb2."""
        (service,) = service_module.DESCRIPTOR.services_by_name.values()
        export = service.methods_by_name["Export"]
        return cls(
            name,
            item,
            record_type,
            table,
            request_type=getattr(service_module, export.input_type.name),
            response_type=getattr(service_module, export.output_type.name),
            rejected_field=rejected_field,
            grpc_service=service.full_name,
        )


# (name, item, record type, table, OTLP service module, partial-success count field)
TRACES = Signal.of_service("traces", "span", SpanRecord, SPANS, trace_service_pb2, "rejected_spans")
METRICS = Signal.of_service(
    "metrics",
    "data point",
    MetricPointRecord,
    METRIC_POINTS,
    metrics_service_pb2,
    "rejected_data_points",
)
LOGS = Signal.of_service(
    "logs", "log record", LogRecordRow, LOG_RECORDS, logs_service_pb2, "rejected_log_records"
)

SIGNALS: dict[str, Signal] = {signal.name: signal for signal in (TRACES, METRICS, LOGS)}
BY_HTTP_PATH: dict[str, Signal] = {signal.http_path: signal for signal in SIGNALS.values()}
