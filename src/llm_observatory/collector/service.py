"""The collector's two OTLP front ends (HTTP on 4318, gRPC on 4317) over one pipeline.

Answers follow the OTLP specification, so SDK exporters do the right thing:
- success, with partial-success counts where some items were refused;
- HTTP 400 / INVALID_ARGUMENT for a malformed body (not retried);
- HTTP 415 for a body that is neither protobuf nor JSON, 413 above MAX_REQUEST_BYTES;
- HTTP 429 / RESOURCE_EXHAUSTED (with RetryInfo) when the queue is full, HTTP 503 /
  UNAVAILABLE when storage cannot commit: both retryable, with Retry-After.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import orjson
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from llm_observatory.collector import metrics, otlp
from llm_observatory.collector.pipeline import Enricher, Forwarder
from llm_observatory.core import tracing
from llm_observatory.core.batching import Backpressure, QueueFull
from llm_observatory.core.logging import get_logger
from llm_observatory.core.records import Rejection

log = get_logger(__name__)

# signal -> (parse body, request -> records, response type, partial-success count field)
SIGNAL_SPECS: dict[str, tuple[Callable, Callable, type, str]] = {
    "traces": (
        otlp.parse_trace_request,
        otlp.spans_from_request,
        trace_service_pb2.ExportTraceServiceResponse,
        "rejected_spans",
    ),
    "metrics": (
        otlp.parse_metrics_request,
        otlp.metric_points_from_request,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
    ),
    "logs": (
        otlp.parse_logs_request,
        otlp.log_records_from_request,
        logs_service_pb2.ExportLogsServiceResponse,
        "rejected_log_records",
    ),
}
HTTP_PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}


class Collector:
    """Decode, enrich and store one export request; the transports share this."""

    def __init__(self, forwarder: Forwarder, enricher: Enricher) -> None:
        self.forwarder = forwarder
        self.enricher = enricher

    async def export(self, signal: str, request: Any, protocol: str) -> Rejection:
        tracer = tracing.tracer()
        if tracer is None:
            return await self._export(signal, request, protocol)
        # No traceparent from the sender: its exporter's context is not ours to join.
        with tracer.start_as_current_span(
            f"export {signal}",
            kind=tracing.SpanKind.SERVER,
            attributes={"llmo.signal": signal, "llmo.protocol": protocol},
            record_exception=False,
        ) as span:
            try:
                return await self._export(signal, request, protocol)
            except Exception as exc:
                tracing.record_error(span, exc)
                raise

    async def _export(self, signal: str, request: Any, protocol: str) -> Rejection:
        _, to_records, _, _ = SIGNAL_SPECS[signal]
        decoded = to_records(request)
        records = decoded.records
        received = len(records) + decoded.rejected.count
        metrics.ITEMS_RECEIVED.labels(signal, protocol).inc(received)
        if decoded.rejected.count:
            metrics.ITEMS_REJECTED.labels(signal, protocol, "invalid").inc(decoded.rejected.count)
        if signal == "traces":
            records = self.enricher.sampled(records)
            self.enricher.spans(records)
        elif signal == "logs":
            self.enricher.logs(records)
        try:
            await self.forwarder.submit(signal, records)
        except Backpressure as exc:
            reason = "queue_full" if isinstance(exc, QueueFull) else "storage_unavailable"
            metrics.ITEMS_REJECTED.labels(signal, protocol, reason).inc(len(records))
            raise
        metrics.ITEMS_ACCEPTED.labels(signal, protocol).inc(len(records))
        return decoded.rejected


def response_message(signal: str, rejected: Rejection) -> Any:
    _, _, response_type, count_field = SIGNAL_SPECS[signal]
    response = response_type()
    if rejected.count:
        setattr(response.partial_success, count_field, rejected.count)
        response.partial_success.error_message = rejected.message
    return response


# ---------------------------------------------------------------------------
# OTLP/HTTP
# ---------------------------------------------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class OtlpHttpApp:
    """A plain ASGI app: four routes do not need a framework, and this is the hot path."""

    def __init__(self, collector: Collector, max_request_bytes: int) -> None:
        self.collector = collector
        self.max_bytes = max_request_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Send) -> None:
        if scope["type"] != "http":
            return
        signal = HTTP_PATHS.get(scope["path"].rstrip("/") or "/")
        if signal is None:
            await _plain(
                send,
                404,
                f"no OTLP endpoint at {scope['path']}; use /v1/traces, /v1/metrics or /v1/logs",
            )
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "OTLP export requests are POSTs", [(b"allow", b"POST")])
            return
        started = time.perf_counter()
        code = await self._export(signal, scope, receive, send)
        metrics.REQUESTS.labels(signal, "http", str(code)).inc()
        metrics.EXPORT_DURATION.labels(signal, "http").observe(time.perf_counter() - started)

    async def _export(self, signal: str, scope: dict, receive: Callable, send: Send) -> int:
        headers = {k.lower(): v for k, v in scope["headers"]}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in (otlp.CONTENT_TYPE_PROTOBUF, otlp.CONTENT_TYPE_JSON):
            await _plain(
                send,
                415,
                f"unsupported content type {content_type!r}: send application/x-protobuf "
                "or application/json",
            )
            return 415
        is_json = media_type == otlp.CONTENT_TYPE_JSON
        encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").lower()
        if encoding not in ("identity", "gzip", ""):
            await _status(
                send,
                415,
                is_json,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported content encoding {encoding!r}: use gzip or none",
            )
            return 415
        try:
            body = await self._read_body(receive, headers)
            if encoding == "gzip":
                body = self._gunzip(body)
        except BodyTooLarge:
            metrics.ITEMS_REJECTED.labels(signal, "http", "too_large").inc()
            await _status(
                send,
                413,
                is_json,
                code_pb2.INVALID_ARGUMENT,
                f"request body larger than {self.max_bytes} bytes (MAX_REQUEST_BYTES); "
                "send smaller batches",
            )
            return 413
        except zlib.error as exc:
            await _status(
                send, 400, is_json, code_pb2.INVALID_ARGUMENT, f"body is not valid gzip: {exc}"
            )
            return 400

        parse = SIGNAL_SPECS[signal][0]
        try:
            request = parse(body, media_type)
        except otlp.OtlpDecodeError as exc:
            metrics.ITEMS_REJECTED.labels(signal, "http", "malformed").inc()
            await _status(send, 400, is_json, code_pb2.INVALID_ARGUMENT, str(exc))
            return 400

        try:
            rejected = await self.collector.export(signal, request, "http")
        except Backpressure as exc:
            status = 429 if isinstance(exc, QueueFull) else 503
            await _status(
                send,
                status,
                is_json,
                code_pb2.UNAVAILABLE,
                str(exc),
                [(b"retry-after", str(exc.retry_after).encode())],
            )
            return status
        response = response_message(signal, rejected)
        if is_json:
            await _respond(send, 200, _json_response(response, rejected), otlp.CONTENT_TYPE_JSON)
        else:
            await _respond(send, 200, response.SerializeToString(), otlp.CONTENT_TYPE_PROTOBUF)
        return 200

    async def _read_body(self, receive: Callable, headers: dict[bytes, bytes]) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _gunzip(self, body: bytes) -> bytes:
        # A limit on the output, so a small gzip bomb cannot take the memory.
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflater.decompress(body, self.max_bytes + 1)
        if len(data) > self.max_bytes or inflater.unconsumed_tail:
            raise BodyTooLarge
        if not inflater.eof:
            raise zlib.error("truncated gzip stream")
        return data


def _json_response(response: Any, rejected: Rejection) -> bytes:
    if not rejected.count:
        return b"{}"
    partial = response.partial_success
    # proto3 JSON mapping: int64 counts are strings, names are lowerCamelCase.
    body = {
        field.camelcase_name: str(getattr(partial, field.name))
        for field in partial.DESCRIPTOR.fields
        if field.name != "error_message"
    }
    body["errorMessage"] = partial.error_message
    return orjson.dumps({"partialSuccess": body})


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _respond(send, status, message.encode(), "text/plain; charset=utf-8", extra)


async def _status(
    send: Send,
    http_status: int,
    is_json: bool,
    code: int,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """An OTLP error answer: a google.rpc.Status in the request's encoding."""
    if is_json:
        body = orjson.dumps({"code": code, "message": message})
        await _respond(send, http_status, body, otlp.CONTENT_TYPE_JSON, extra)
    else:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        await _respond(send, http_status, body, otlp.CONTENT_TYPE_PROTOBUF, extra)


# ---------------------------------------------------------------------------
# OTLP/gRPC
# ---------------------------------------------------------------------------


def _retry_trailers(code: int, message: str, seconds: int) -> tuple[tuple[str, bytes], ...]:
    """RetryInfo tells OTLP exporters a RESOURCE_EXHAUSTED answer is worth retrying."""
    detail = AnyProto()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=seconds)))
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


async def _grpc_export(collector: Collector, signal: str, request: Any, context: Any) -> Any:
    started = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        rejected = await collector.export(signal, request, "grpc")
        return response_message(signal, rejected)
    except QueueFull as exc:
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
        trailers = _retry_trailers(code_pb2.RESOURCE_EXHAUSTED, str(exc), exc.retry_after)
        await context.abort(code, str(exc), trailing_metadata=trailers)
    except Backpressure as exc:
        code = grpc.StatusCode.UNAVAILABLE
        trailers = _retry_trailers(code_pb2.UNAVAILABLE, str(exc), exc.retry_after)
        await context.abort(code, str(exc), trailing_metadata=trailers)
    finally:
        metrics.REQUESTS.labels(signal, "grpc", code.name).inc()
        metrics.EXPORT_DURATION.labels(signal, "grpc").observe(time.perf_counter() - started)


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request, context):
        return await _grpc_export(self.collector, "traces", request, context)


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request, context):
        return await _grpc_export(self.collector, "metrics", request, context)


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, collector: Collector) -> None:
        self.collector = collector

    async def Export(self, request, context):
        return await _grpc_export(self.collector, "logs", request, context)


def make_grpc_server(collector: Collector, endpoint: str, max_bytes: int) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_bytes),
            ("grpc.max_concurrent_streams", 256),
        ]
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(collector), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(collector), server)
    server.add_insecure_port(endpoint)
    return server
