"""Decoding, per signal: an OTLP body or request message -> records, within the limits.

    parse(signal, body, media_type, limits) -> request message   (OTLP/HTTP; gRPC bodies
                                                                    are protobuf too)
    records(signal, request, limits, rejected) -> list of records

Both transports hand the raw body to `parse`, so a protobuf body is counted before it
is parsed (wire.py) whichever way it came. `DecodeError` means the body is not an OTLP
export request (HTTP 400 / INVALID_ARGUMENT); `TooLarge` that it is over a limit of
the whole request (HTTP 413 / INVALID_ARGUMENT). Records that cannot be stored are
refused one by one into `rejected`, for OTLP partial success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError

from llm_observatory.collector.decode import logs, metrics, protojson, traces, wire
from llm_observatory.collector.limits import Limits
from llm_observatory.core.records import Rejection
from llm_observatory.core.signals import Signal

CONTENT_TYPE_PROTOBUF = "application/x-protobuf"
CONTENT_TYPE_JSON = "application/json"
MEDIA_TYPES = (CONTENT_TYPE_PROTOBUF, CONTENT_TYPE_JSON)

# Per-signal decoding, keyed by core.signals names (a test checks it covers them all).
DECODERS: dict[str, Callable[[Any, Limits, Rejection], list[Any]]] = {
    "traces": traces.decode,
    "metrics": metrics.decode,
    "logs": logs.decode,
}


class DecodeError(ValueError):
    """The body is not a valid OTLP export request."""


class TooLarge(ValueError):
    """The request is over a limit of the whole request (size, items, objects)."""


def _too_many(signal: Signal, limits: Limits) -> TooLarge:
    limit = limits.max_items_per_request
    return TooLarge(
        f"more than {limit} {signal.item}s in one request: the limit is {limit} "
        "(MAX_ITEMS_PER_REQUEST); send smaller batches"
    )


def parse_protobuf(signal: Signal, body: bytes, limits: Limits) -> Any:
    try:
        count = wire.count_items(signal.name, body, limits.max_items_per_request)
    except wire.WireError as exc:
        raise DecodeError(f"malformed protobuf: {exc}") from None
    if count > limits.max_items_per_request:
        raise _too_many(signal, limits)
    try:
        return signal.request_type.FromString(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"malformed protobuf: {exc or 'cannot parse message'}") from None


def parse_json(signal: Signal, body: bytes, limits: Limits) -> Any:
    # Every JSON object or array costs memory once parsed; count them (at memchr speed,
    # brackets inside strings included, so an over-estimate) before parsing anything.
    objects = body.count(b"{") + body.count(b"[")
    if objects > limits.max_decoded_objects:
        raise TooLarge(
            f"OTLP/JSON body with about {objects} objects and arrays: the limit is "
            f"{limits.max_decoded_objects} (MAX_DECODED_OBJECTS); send smaller batches"
        )
    try:
        request = protojson.json_request(signal.request_type, body)
    except protojson.JsonError as exc:
        raise DecodeError(str(exc)) from None
    count = wire.count_parsed(signal.name, request)
    if count > limits.max_items_per_request:
        raise _too_many(signal, limits)
    return request


def parse(signal: Signal, body: bytes, media_type: str, limits: Limits) -> Any:
    if len(body) > limits.max_request_bytes:
        raise TooLarge(
            f"request body larger than {limits.max_request_bytes} bytes (MAX_REQUEST_BYTES); "
            "send smaller batches"
        )
    if media_type == CONTENT_TYPE_JSON:
        return parse_json(signal, body, limits)
    return parse_protobuf(signal, body, limits)


def records(signal: Signal, request: Any, limits: Limits, rejected: Rejection) -> list[Any]:
    return DECODERS[signal.name](request, limits, rejected)
