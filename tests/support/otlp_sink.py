"""A stand-in for Jaeger's OTLP/gRPC trace receiver.

No Jaeger image can be had where no registry is reachable; the services only need
something that takes TraceService/Export. tests/smoke/compose.no-jaeger.yml runs this
file as `jaeger` in the collector's image (grpcio and opentelemetry-proto are there),
printing one line per export; tests/unit/test_tracing_export.py starts it in process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def start(address: str, received: Callable[[str, int], None]) -> grpc.Server:
    """A started server at `address`; `received(service_name, spans)` per resource."""

    def export(request: ExportTraceServiceRequest, _context: object) -> ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            attributes = resource_spans.resource.attributes
            names = [a.value.string_value for a in attributes if a.key == "service.name"]
            count = sum(len(scope.spans) for scope in resource_spans.scope_spans)
            received(",".join(names) or "?", count)
        return ExportTraceServiceResponse()

    handler = grpc.method_handlers_generic_handler(
        TRACE_SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=ExportTraceServiceRequest.FromString,
                response_serializer=ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[handler])
    server.add_insecure_port(address)
    server.start()
    return server


def main() -> None:
    server = start(
        "0.0.0.0:4317",  # inside the test stack's network
        lambda service, spans: print(f"received {spans} spans from {service}", flush=True),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("listening on 4317", flush=True)
    stop.wait()
    server.stop(1)


if __name__ == "__main__":
    main()
