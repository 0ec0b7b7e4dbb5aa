"""OTLP/HTTP receiver on 4318: POST /v1/traces, /v1/metrics, /v1/logs.

Answers follow the OTLP specification, so SDK exporters do the right thing:
- 200, with partial-success counts where some items were refused;
- 400 for a malformed body, 413 over a whole-request limit, 415 for a body that is
  neither protobuf nor JSON (or an encoding other than gzip): not retried;
- 401 without a valid ingest key (when keys are required);
- 429 when the queue is full or too many requests are in progress, 503 when storage
  cannot commit: retryable, with Retry-After.
Error bodies are a google.rpc.Status in the request's encoding.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from google.rpc import code_pb2, status_pb2

from llm_observatory.collector import decode, metrics
from llm_observatory.collector.keys import IngestKeys, Unauthenticated
from llm_observatory.collector.pipeline import Busy, Pipeline
from llm_observatory.core.batching import Backpressure, QueueFull
from llm_observatory.core.records import Rejection
from llm_observatory.core.signals import BY_HTTP_PATH, Signal

Send = Callable[[dict[str, Any]], Awaitable[None]]


class _BodyTooLarge(Exception):
    pass


class OtlpHttpApp:
    """A plain ASGI app: three routes do not need a framework, and this is the hot path."""

    def __init__(self, pipeline: Pipeline, keys: IngestKeys) -> None:
        self.pipeline = pipeline
        self.keys = keys
        self.max_bytes = pipeline.limits.max_request_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Send) -> None:
        if scope["type"] != "http":
            return
        signal = BY_HTTP_PATH.get(scope["path"].rstrip("/") or "/")
        if signal is None:
            await _plain(
                send,
                404,
                f"no OTLP endpoint at {scope['path'][:200]}; "
                "use /v1/traces, /v1/metrics or /v1/logs",
            )
            return
        if scope["method"] != "POST":
            await _plain(send, 405, "OTLP export requests are POSTs", [(b"allow", b"POST")])
            return
        started = time.perf_counter()
        code = await self._export(signal, scope, receive, send)
        metrics.REQUESTS.labels(signal.name, "http", str(code)).inc()
        metrics.EXPORT_DURATION.labels(signal.name, "http").observe(time.perf_counter() - started)

    async def _export(self, signal: Signal, scope: dict, receive: Callable, send: Send) -> int:
        headers = {k.lower(): v for k, v in scope["headers"]}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in decode.MEDIA_TYPES:
            await _plain(
                send,
                415,
                f"unsupported content type {content_type[:100]!r}: send "
                "application/x-protobuf or application/json",
            )
            return 415
        is_json = media_type == decode.CONTENT_TYPE_JSON
        encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").lower()
        if encoding not in ("identity", "gzip", ""):
            message = f"unsupported content encoding {encoding[:50]!r}: use gzip or none"
            await _status(send, 415, is_json, code_pb2.INVALID_ARGUMENT, message)
            return 415
        try:
            key_name = self.keys.check_http(headers)
        except Unauthenticated as exc:
            metrics.ITEMS_REJECTED.labels(signal.name, "http", "unauthenticated").inc()
            await _status(
                send,
                401,
                is_json,
                code_pb2.UNAUTHENTICATED,
                str(exc),
                [(b"www-authenticate", b'Bearer realm="otlp"')],
            )
            return 401
        try:
            self.pipeline.admit()
        except Busy as exc:
            return await self._retry_later(send, signal, is_json, exc, 429, "busy")
        try:
            return await self._admitted(
                signal, receive, send, headers, media_type, encoding, key_name
            )
        finally:
            self.pipeline.release()

    async def _admitted(
        self,
        signal: Signal,
        receive: Callable,
        send: Send,
        headers: dict[bytes, bytes],
        media_type: str,
        encoding: str,
        key_name: str | None,
    ) -> int:
        is_json = media_type == decode.CONTENT_TYPE_JSON
        try:
            body = await self._read_body(receive, headers)
            rejected = await self.pipeline.export(
                signal,
                body,
                media_type=media_type,
                protocol="http",
                gzip=encoding == "gzip",
                ingest_key=key_name,
            )
        except (_BodyTooLarge, decode.TooLarge) as exc:
            metrics.ITEMS_REJECTED.labels(signal.name, "http", "too_large").inc()
            message = str(exc) or (
                f"request body larger than {self.max_bytes} bytes (MAX_REQUEST_BYTES); "
                "send smaller batches"
            )
            await _status(send, 413, is_json, code_pb2.INVALID_ARGUMENT, message)
            return 413
        except decode.DecodeError as exc:
            metrics.ITEMS_REJECTED.labels(signal.name, "http", "malformed").inc()
            await _status(send, 400, is_json, code_pb2.INVALID_ARGUMENT, str(exc)[:1000])
            return 400
        except Backpressure as exc:
            status = 429 if isinstance(exc, QueueFull) else 503
            return await self._retry_later(send, signal, is_json, exc, status, None)
        answer = signal.response(rejected.count, rejected.message)
        if is_json:
            await _respond(send, 200, _json_response(signal, rejected), decode.CONTENT_TYPE_JSON)
        else:
            await _respond(send, 200, answer.SerializeToString(), decode.CONTENT_TYPE_PROTOBUF)
        return 200

    @staticmethod
    async def _retry_later(
        send: Send,
        signal: Signal,
        is_json: bool,
        exc: Backpressure,
        status: int,
        reason: str | None,
    ) -> int:
        if reason is not None:
            metrics.ITEMS_REJECTED.labels(signal.name, "http", reason).inc()
        await _status(
            send,
            status,
            is_json,
            code_pb2.UNAVAILABLE,
            str(exc),
            [(b"retry-after", str(exc.retry_after).encode())],
        )
        return status

    async def _read_body(self, receive: Callable, headers: dict[bytes, bytes]) -> bytes:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)


def _json_response(signal: Signal, rejected: Rejection) -> bytes:
    if not rejected.count:
        return b"{}"
    # proto3 JSON mapping: int64 counts are strings, names are lowerCamelCase.
    field = signal.response_type.DESCRIPTOR.fields_by_name["partial_success"].message_type
    count_name = field.fields_by_name[signal.rejected_field].camelcase_name
    return orjson.dumps(
        {"partialSuccess": {count_name: str(rejected.count), "errorMessage": rejected.message}}
    )


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
        await _respond(send, http_status, body, decode.CONTENT_TYPE_JSON, extra)
    else:
        body = status_pb2.Status(code=code, message=message).SerializeToString()
        await _respond(send, http_status, body, decode.CONTENT_TYPE_PROTOBUF, extra)
