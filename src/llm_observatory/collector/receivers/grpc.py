"""OTLP/gRPC receiver on 4317: the Export method of the trace, metrics and logs services.

One generic handler per signal of core.signals. It takes the request's raw bytes (no
deserializer), so they go through the same counting and decoding as an HTTP body:
grpcio would otherwise materialise a whole message before anything could look at it.
Codes follow OTLP: INVALID_ARGUMENT (malformed or over a limit) and UNAUTHENTICATED are
not retried; RESOURCE_EXHAUSTED (queue full, busy) and UNAVAILABLE (storage) carry
RetryInfo, which tells exporters to retry.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2

from llm_observatory.collector import decode, metrics
from llm_observatory.collector.keys import IngestKeys, Unauthenticated
from llm_observatory.collector.pipeline import Busy, Pipeline
from llm_observatory.core.batching import Backpressure, QueueFull
from llm_observatory.core.signals import SIGNALS, Signal


def _retry_trailers(code: int, message: str, seconds: int) -> tuple[tuple[str, bytes], ...]:
    """RetryInfo tells OTLP exporters a RESOURCE_EXHAUSTED answer is worth retrying."""
    detail = AnyProto()
    detail.Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=seconds)))
    status = status_pb2.Status(code=code, message=message, details=[detail])
    return (("grpc-status-details-bin", status.SerializeToString()),)


def _export_method(pipeline: Pipeline, keys: IngestKeys, signal: Signal) -> Any:
    name = signal.name

    async def export(body: bytes, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            key_name = keys.check_grpc(context.invocation_metadata())
            pipeline.admit()
            try:
                rejected = await pipeline.export(
                    signal,
                    body,
                    media_type=decode.CONTENT_TYPE_PROTOBUF,
                    protocol="grpc",
                    ingest_key=key_name,
                )
            finally:
                pipeline.release()
            return signal.response(rejected.count, rejected.message)
        except Unauthenticated as exc:
            code = grpc.StatusCode.UNAUTHENTICATED
            metrics.ITEMS_REJECTED.labels(name, "grpc", "unauthenticated").inc()
            await context.abort(code, str(exc))
        except (decode.TooLarge, decode.DecodeError) as exc:
            code = grpc.StatusCode.INVALID_ARGUMENT
            reason = "too_large" if isinstance(exc, decode.TooLarge) else "malformed"
            metrics.ITEMS_REJECTED.labels(name, "grpc", reason).inc()
            await context.abort(code, str(exc)[:1000])
        except (QueueFull, Busy) as exc:
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            if isinstance(exc, Busy):
                metrics.ITEMS_REJECTED.labels(name, "grpc", "busy").inc()
            trailers = _retry_trailers(code_pb2.RESOURCE_EXHAUSTED, str(exc), exc.retry_after)
            await context.abort(code, str(exc), trailing_metadata=trailers)
        except Backpressure as exc:
            code = grpc.StatusCode.UNAVAILABLE
            trailers = _retry_trailers(code_pb2.UNAVAILABLE, str(exc), exc.retry_after)
            await context.abort(code, str(exc), trailing_metadata=trailers)
        finally:
            metrics.REQUESTS.labels(name, "grpc", code.name).inc()
            metrics.EXPORT_DURATION.labels(name, "grpc").observe(time.perf_counter() - started)

    return export


def make_grpc_server(pipeline: Pipeline, keys: IngestKeys, endpoint: str) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", pipeline.limits.max_request_bytes),
            ("grpc.max_concurrent_streams", 256),
        ]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                signal.grpc_service,
                {
                    "Export": grpc.unary_unary_rpc_method_handler(
                        _export_method(pipeline, keys, signal),
                        response_serializer=signal.response_type.SerializeToString,
                    )
                },
            )
            for signal in SIGNALS.values()
        ]
    )
    server.add_insecure_port(endpoint)
    return server
