"""Hostile OTLP/HTTP requests: each a function returning (path, headers, body).

Every request here is one a client could send to port 4318, and each once hurt the
collector (a slow regex pass per `@`, a recursion error that failed a whole shared batch,
an index row too large for a btree, a decoded request 80 times its wire size, unbounded
metric labels). The smoke tests import them to check that each gets a 4xx or a partial
success quickly while an innocent export sent at the same time still gets 200; `main()`
sends each to a running collector and prints the answers and timings:

    uv run python -m tests.performance.hostile_requests --otlp-url http://127.0.0.1:4318
    uv run python -m tests.performance.hostile_requests --only at_signs_gzip,deep_messages

Sizes are parameters, so a stack with a small MAX_REQUEST_BYTES (the test stack's is
1 MiB) can be given requests just under its limit. The large bodies are encoded by hand
(protobuf wire format, or JSON text): building millions of messages would take longer
than sending them. Content is deterministic (seeded), ids are fresh per call.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
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
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.support.container_usage import restart_counts
from tests.support.otlp_builders import key_values, make_llm_span_request, resource_attributes

MIB = 1024 * 1024
PROTOBUF = "application/x-protobuf"
TRACES, METRICS, LOGS = "/v1/traces", "/v1/metrics", "/v1/logs"
LONG = 3_200  # characters: over the 2,704-byte btree row limit even uncompressed
RESPONSES = {
    TRACES: ExportTraceServiceResponse,
    METRICS: ExportMetricsServiceResponse,
    LOGS: ExportLogsServiceResponse,
}


class HostileRequest(NamedTuple):
    path: str
    headers: dict[str, str]
    body: bytes


def _request(
    path: str, body: bytes, *, compress: bool, content_type: str = PROTOBUF
) -> HostileRequest:
    headers = {"content-type": content_type}
    if compress:
        headers["content-encoding"] = "gzip"
        body = gzip.compress(body, 9)
    return HostileRequest(path, headers, body)


def incompressible_text(length: int, seed: int = 1) -> str:
    """Random letters and digits: nothing for pglz (or gzip's LZ77) to find."""
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(rng.choice(alphabet) for _ in range(length))


def _ids() -> tuple[bytes, bytes]:
    return os.urandom(16), os.urandom(8)


def _span(name: str, attributes: dict[str, Any]) -> Span:
    trace_id, span_id = _ids()
    now = time.time_ns()
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=now - 1_000_000_000,
        end_time_unix_nano=now,
        attributes=key_values(attributes),
    )


def _traces(spans: list[Span], service: str = "hostile-client") -> bytes:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(key_values(resource_attributes(service)))
    scope = rs.scope_spans.add()
    scope.scope.name = "hostile"
    scope.spans.extend(spans)
    return request.SerializeToString()


def _chat(**overrides: Any) -> Span:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 3,
        **overrides,
    }
    return _span(f"chat {attributes['gen_ai.request.model'][:40]}", attributes)


# ------------------------------------------------------------- protobuf wire format


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# ------------------------------------------------------------------- the requests


def at_signs_gzip(size: int = MIB) -> HostileRequest:
    """One attribute of `size` '@' characters, gzipped (1 MiB -> about 1.3 KB)."""
    body = _traces([_span("note", {"comment": "@" * size})])
    return _request(TRACES, body, compress=True)


def digits_gzip(size: int = MIB) -> HostileRequest:
    """One attribute of `size` digits, gzipped: the other worst case of a PII pass."""
    body = _traces([_span("note", {"comment": "4" * size})])
    return _request(TRACES, body, compress=True)


def deep_messages(depth: int = 300) -> HostileRequest:
    """A GenAI chat span whose gen_ai.input.messages is JSON nested `depth` levels."""
    nested = '{"a": ' * depth + '"x"' + "}" * depth
    messages = (
        '[{"role": "user", "parts": [{"type": "text", "content": "hi"}], "extra": ' + nested + "}]"
    )
    json.loads(messages)  # valid JSON, only deep
    return _request(TRACES, _traces([_chat(**{"gen_ai.input.messages": messages})]), compress=False)


def long_service_name(length: int = LONG) -> HostileRequest:
    """A span whose resource service.name is `length` characters of incompressible text."""
    body = _traces([_chat()], service=incompressible_text(length))
    return _request(TRACES, body, compress=False)


def long_request_model(length: int = LONG) -> HostileRequest:
    model = incompressible_text(length, seed=2)
    return _request(TRACES, _traces([_chat(**{"gen_ai.request.model": model})]), compress=False)


def long_gen_ai_system(length: int = LONG) -> HostileRequest:
    system = incompressible_text(length, seed=3)
    body = _traces([_chat(**{"gen_ai.system": system, "gen_ai.provider.name": system})])
    return _request(TRACES, body, compress=False)


def long_metric_name(length: int = LONG) -> HostileRequest:
    request = ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.extend(key_values(resource_attributes("hostile-client")))
    metric = rm.scope_metrics.add().metrics.add(name=incompressible_text(length, seed=4))
    metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_double=1.0)
    return _request(METRICS, request.SerializeToString(), compress=False)


def long_log_service_name(length: int = LONG) -> HostileRequest:
    request = ExportLogsServiceRequest()
    rl = request.resource_logs.add()
    rl.resource.attributes.extend(
        key_values(resource_attributes(incompressible_text(length, seed=5)))
    )
    record = rl.scope_logs.add().log_records.add(time_unix_nano=time.time_ns())
    record.body.string_value = "hello"
    return _request(LOGS, request.SerializeToString(), compress=False)


def empty_spans_gzip(decoded_bytes: int = 16 * MIB) -> HostileRequest:
    """Empty spans (two bytes each on the wire) filling `decoded_bytes`, gzipped: 16 MiB
    of them are about 8 million spans in a 16 KB body."""
    count = (decoded_bytes - 12) // 2  # two tags and lengths (up to 6 bytes each) around
    spans = b"\x12\x00" * count  # ScopeSpans.spans (field 2), each an empty Span
    # request.resource_spans (1) { ResourceSpans.scope_spans (2) { spans } }
    body = _field(1, _field(2, spans))
    assert len(body) <= decoded_bytes
    return _request(TRACES, body, compress=True)


def tiny_attributes(decoded_bytes: int = 16 * MIB, *, compress: bool = True) -> HostileRequest:
    """One span carrying `decoded_bytes` of distinct one-character string attributes
    (about 15 bytes each: over a million attributes in 16 MiB)."""
    head = _span("tiny attributes", {}).SerializeToString()
    value = _field(2, _field(1, b"x"))  # KeyValue.value = AnyValue{string_value: "x"}
    budget = decoded_bytes - len(head) - 64
    parts: list[bytes] = []
    used = 0
    index = 0
    while True:
        attribute = _field(9, _field(1, f"a{index:x}".encode()) + value)  # Span.attributes
        if used + len(attribute) > budget:
            break
        parts.append(attribute)
        used += len(attribute)
        index += 1
    span = head + b"".join(parts)
    # request.resource_spans (1) { scope_spans (2) { ScopeSpans.spans (2) { span } } }
    body = _field(1, _field(2, _field(2, span)))
    assert len(body) <= decoded_bytes
    return _request(TRACES, body, compress=compress)


def json_empty_objects(decoded_bytes: int = 16 * MIB, *, compress: bool = True) -> HostileRequest:
    """An OTLP/JSON body of millions of `{}`: resourceSpans: [{}, {}, ...]."""
    prefix, suffix = b'{"resourceSpans":[', b"{}]}"
    count = (decoded_bytes - len(prefix) - len(suffix)) // 3
    body = prefix + b"{}," * count + suffix
    return _request(TRACES, body, compress=compress, content_type="application/json")


def many_providers(count: int = 5_000) -> HostileRequest:
    """`count` GenAI spans in one request, each with its own gen_ai.provider.name."""
    spans = [_chat(**{"gen_ai.provider.name": f"provider-{i:05d}"}) for i in range(count)]
    return _request(TRACES, _traces(spans), compress=False)


def innocent_export() -> HostileRequest:
    """A small, valid export with fresh ids: what an honest client sends meanwhile."""
    request = make_llm_span_request(4, seed=int.from_bytes(os.urandom(4), "big"))
    return _request(TRACES, request.SerializeToString(), compress=False)


HOSTILE: dict[str, Callable[[], HostileRequest]] = {
    "at_signs_gzip": at_signs_gzip,
    "digits_gzip": digits_gzip,
    "deep_messages": deep_messages,
    "long_service_name": long_service_name,
    "long_request_model": long_request_model,
    "long_gen_ai_system": long_gen_ai_system,
    "long_metric_name": long_metric_name,
    "long_log_service_name": long_log_service_name,
    "empty_spans_gzip": empty_spans_gzip,
    "tiny_attributes": tiny_attributes,
    "json_empty_objects": json_empty_objects,
    "many_providers": many_providers,
}


# ------------------------------------------------------------------------- sending


def describe_answer(path: str, response: httpx.Response) -> str:
    """What came back, in words: partial success counts, or the error's message."""
    content_type = response.headers.get("content-type", "")
    if not response.content:
        return "(accepted)" if response.status_code == 200 else "(no body)"
    if "json" in content_type:
        return response.text[:160]
    try:
        if response.status_code == 200:
            partial = RESPONSES[path].FromString(response.content).partial_success
            rejected = (
                getattr(partial, "rejected_spans", 0)
                or getattr(partial, "rejected_data_points", 0)
                or getattr(partial, "rejected_log_records", 0)
            )
            if rejected or partial.error_message:
                return f"partial success: {rejected} rejected: {partial.error_message[:120]}"
            return "(accepted)"
        return status_pb2.Status.FromString(response.content).message[:160]
    except DecodeError:
        return repr(response.content[:80])


async def _send(client: httpx.AsyncClient, base: str, request: HostileRequest):
    began = time.perf_counter()
    try:
        response = await client.post(base + request.path, content=request.body,
                                     headers=request.headers)  # fmt: skip
    except httpx.HTTPError as exc:
        return None, time.perf_counter() - began, type(exc).__name__
    return (
        response.status_code,
        time.perf_counter() - began,
        describe_answer(request.path, response),
    )


async def send_with_innocent(
    base: str, hostile: HostileRequest, timeout: float = 60, innocent_delay: float = 0.05
) -> tuple[tuple[int | None, float, str], tuple[int | None, float, str]]:
    """Send `hostile`, and an innocent export `innocent_delay` s later on another
    connection; return (status, seconds, answer) of each."""
    async with (
        httpx.AsyncClient(timeout=timeout) as hostile_client,
        httpx.AsyncClient(timeout=timeout) as innocent_client,
    ):

        async def innocent() -> tuple[int | None, float, str]:
            await asyncio.sleep(innocent_delay)
            return await _send(innocent_client, base, innocent_export())

        return await asyncio.gather(_send(hostile_client, base, hostile), innocent())


def main() -> None:
    parser = argparse.ArgumentParser(description="Send each hostile request to a collector.")
    parser.add_argument("--otlp-url", default=os.environ.get("OTLP_URL", "http://127.0.0.1:4318"))
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(HOSTILE)}")
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument(
        "--project", default="", help="compose project: print container restarts before/after"
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(HOSTILE)
    unknown = [n for n in names if n not in HOSTILE]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    restarts_before = _restarts(args.project)
    base = args.otlp_url.rstrip("/")
    print("| request | body | status | time | answer | innocent export meanwhile |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in names:
        request = HOSTILE[name]()
        (status, seconds, answer), (ok_status, ok_seconds, _) = asyncio.run(
            send_with_innocent(base, request, args.timeout)
        )
        print(
            f"| {name} | {len(request.body):,} B | {status} | {seconds:.2f} s | {answer} "
            f"| {ok_status} in {ok_seconds:.2f} s |",
            flush=True,
        )
    restarts_after = _restarts(args.project)
    if args.project:
        changed = {
            s: n - restarts_before.get(s, 0)
            for s, n in restarts_after.items()
            if n != restarts_before.get(s, 0)
        }
        print(f"\ncontainer restarts during the run: {changed or 'none'}")


def _restarts(project: str) -> dict[str, int]:
    return restart_counts(project) if project else {}


if __name__ == "__main__":
    main()
