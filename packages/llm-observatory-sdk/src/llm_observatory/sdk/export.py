"""`configure()`: OpenTelemetry providers that export OTLP to the LLM Observatory collector.

Arguments win over the standard variables, which win over the defaults:

* endpoint: ``OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT`` (used as given), then
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/<signal>`` appended for HTTP), then
  ``http://localhost:4317`` (gRPC) / ``http://localhost:4318`` (HTTP);
* protocol: ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``grpc`` or ``http/protobuf``), then gRPC;
* service name and resource: ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``, read
  by ``Resource.create``; ``service_name=`` overrides them;
* headers: ``OTEL_EXPORTER_OTLP_HEADERS``, read by the exporters themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

Protocol = Literal["grpc", "http"]
SIGNALS = ("traces", "metrics", "logs")
DEFAULT_ENDPOINTS: dict[Protocol, str] = {
    "grpc": "http://localhost:4317",
    "http": "http://localhost:4318",
}
# Spellings of OTEL_EXPORTER_OTLP_PROTOCOL we accept; http/json has no Python exporter.
_PROTOCOLS: dict[str, Protocol] = {"grpc": "grpc", "http/protobuf": "http", "http": "http"}


class ConfigurationError(ValueError):
    """A configure() argument or OTEL_* variable has a value the SDK cannot use."""


@dataclass
class Telemetry:
    """What configure() set up. Call shutdown() before the process exits to send the rest."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider | None
    logger_provider: LoggerProvider | None
    protocol: Protocol
    endpoints: dict[str, str]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Export everything buffered now; True when every provider managed in time."""
        ok = self.tracer_provider.force_flush(timeout_millis)
        if self.meter_provider is not None:
            ok = self.meter_provider.force_flush(timeout_millis) and ok
        if self.logger_provider is not None:
            ok = self.logger_provider.force_flush(timeout_millis) and ok
        return ok

    def shutdown(self) -> None:
        """Flush and stop the exporters (idempotent)."""
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()
        if self.logger_provider is not None:
            self.logger_provider.shutdown()

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def resolve_protocol(protocol: str | None) -> Protocol:
    raw = protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc"
    try:
        return _PROTOCOLS[raw.strip().lower()]
    except KeyError:
        raise ConfigurationError(
            f"OTLP protocol {raw!r} is not supported: use grpc or http/protobuf "
            "(argument protocol= or OTEL_EXPORTER_OTLP_PROTOCOL)"
        ) from None


def resolve_endpoints(endpoint: str | None, protocol: Protocol) -> dict[str, str]:
    """Signal -> URL the exporter of that signal sends to."""
    endpoints = {}
    for signal in SIGNALS:
        variable = f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        specific = None if endpoint else os.environ.get(variable)
        if specific:
            endpoints[signal] = _with_scheme(specific)
            continue
        base = _with_scheme(
            endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINTS[protocol]
        )
        endpoints[signal] = f"{base.rstrip('/')}/v1/{signal}" if protocol == "http" else base
    return endpoints


def _with_scheme(endpoint: str) -> str:
    # "collector:4317" means plain text: the collector speaks no TLS, and the gRPC
    # exporter would otherwise try TLS on a scheme-less address.
    endpoint = endpoint.strip()
    if not endpoint:
        raise ConfigurationError("OTLP endpoint is empty")
    return endpoint if "://" in endpoint else f"http://{endpoint}"


def _exporter(
    signal: str, protocol: Protocol, endpoint: str, headers: Mapping[str, str] | None
) -> Any:
    options: dict[str, Any] = {"endpoint": endpoint}
    if headers:
        options["headers"] = dict(headers)
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import _log_exporter as grpc_logs
        from opentelemetry.exporter.otlp.proto.grpc import metric_exporter as grpc_metrics
        from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as grpc_traces

        classes = {
            "traces": grpc_traces.OTLPSpanExporter,
            "metrics": grpc_metrics.OTLPMetricExporter,
            "logs": grpc_logs.OTLPLogExporter,
        }
    else:
        from opentelemetry.exporter.otlp.proto.http import _log_exporter as http_logs
        from opentelemetry.exporter.otlp.proto.http import metric_exporter as http_metrics
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as http_traces

        classes = {
            "traces": http_traces.OTLPSpanExporter,
            "metrics": http_metrics.OTLPMetricExporter,
            "logs": http_logs.OTLPLogExporter,
        }
    return classes[signal](**options)


def configure(
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    *,
    resource_attributes: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    metrics_enabled: bool = True,
    logs_enabled: bool = True,
    metric_interval_ms: int = 10_000,
    batch: bool = True,
    set_global: bool = True,
) -> Telemetry:
    """Set up tracer, meter and logger providers exporting OTLP to the collector.

    ``batch=False`` exports each span as it ends (short scripts, tests); the default
    batches in the background. ``set_global=False`` leaves the global providers alone:
    pass ``telemetry.tracer_provider`` to ``llm_call(tracer_provider=…)`` and to
    instrumentors then. OpenTelemetry sets each global provider once per process.
    """
    resolved = resolve_protocol(protocol)
    endpoints = resolve_endpoints(endpoint, resolved)
    attributes = dict(resource_attributes or {})
    if service_name:
        attributes["service.name"] = service_name
    resource = Resource.create(attributes)
    span_exporter = _exporter("traces", resolved, endpoints["traces"], headers)
    tracer_provider = TracerProvider(resource=resource)
    processor = BatchSpanProcessor(span_exporter) if batch else SimpleSpanProcessor(span_exporter)
    tracer_provider.add_span_processor(processor)

    meter_provider = None
    if metrics_enabled:
        reader = PeriodicExportingMetricReader(
            _exporter("metrics", resolved, endpoints["metrics"], headers),
            export_interval_millis=metric_interval_ms,
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    logger_provider = None
    if logs_enabled:
        logger_provider = LoggerProvider(resource=resource)
        log_exporter = _exporter("logs", resolved, endpoints["logs"], headers)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))

    if set_global:
        trace.set_tracer_provider(tracer_provider)
        if meter_provider is not None:
            metrics.set_meter_provider(meter_provider)
        if logger_provider is not None:
            set_logger_provider(logger_provider)
    return Telemetry(tracer_provider, meter_provider, logger_provider, resolved, endpoints)
