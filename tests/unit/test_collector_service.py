"""The collector's OTLP receivers (HTTP on 4318, gRPC on 4317), in process, over the real
pipeline and exporter, with a storage double we can stall, break or make refuse rows."""

from __future__ import annotations

import asyncio
import gzip

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llm_observatory.collector.keys import IngestKeys
from llm_observatory.collector.receivers.grpc import make_grpc_server
from llm_observatory.collector.receivers.http import OtlpHttpApp
from llm_observatory.core.signals import SIGNALS
from tests.support.asgi_client import ChunkedReceive, post
from tests.support.collector_harness import collector_settings, running_collector
from tests.support.otlp_builders import (
    log_record,
    logs_request,
    make_llm_metrics_request,
    simple_span,
    span_request,
    to_otlp_json,
    to_otlp_json_bytes,
)

PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
MAX_BYTES = 64 * 1024


def request_with(n: int, bad: int = 0) -> trace_service_pb2.ExportTraceServiceRequest:
    """n good spans, then `bad` spans with an all-zero trace id (refused by decoding)."""
    spans = [
        Span(
            trace_id=bytes([1] * 15 + [i + 1]),
            span_id=bytes([2] * 7 + [i + 1]),
            name=f"span {i}",
            start_time_unix_nano=1_000,
            end_time_unix_nano=2_000,
        )
        for i in range(n)
    ]
    spans += [simple_span(f"bad {i}", trace_id=bytes(16)) for i in range(bad)]
    return span_request(*spans)


@pytest.fixture
async def collector():
    settings = collector_settings(max_queue_size=10, storage_timeout=2, max_request_bytes=MAX_BYTES)
    async with running_collector(settings) as running:
        yield running


async def _client(pipeline):
    app = OtlpHttpApp(pipeline, IngestKeys(""))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector")


@pytest.fixture
async def http(collector):
    pipeline, storage = collector
    async with await _client(pipeline) as client:
        yield client, storage


def _status(response: httpx.Response) -> status_pb2.Status:
    """The google.rpc.Status error body, in the encoding the response says."""
    if response.headers["content-type"] == "application/json":
        return json_format.ParseDict(response.json(), status_pb2.Status())
    assert response.headers["content-type"] == "application/x-protobuf"
    return status_pb2.Status.FromString(response.content)


# --- HTTP: success and partial success ---------------------------------------------------


async def test_success_after_storage_has_the_spans(http):
    client, storage = http
    response = await client.post(
        "/v1/traces", content=request_with(3).SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert trace_service_pb2.ExportTraceServiceResponse.FromString(response.content) == (
        trace_service_pb2.ExportTraceServiceResponse()
    )
    assert [row["name"] for row in storage.rows["traces"]] == ["span 0", "span 1", "span 2"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-protobuf; proto=x",
        "Application/X-Protobuf",
        "application/json; charset=utf-8",
    ],
)
async def test_content_type_parameters_and_case(http, content_type):
    client, storage = http
    body = request_with(2)
    content = to_otlp_json_bytes(body) if "json" in content_type else body.SerializeToString()
    response = await client.post(
        "/v1/traces", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 200
    assert len(storage.rows["traces"]) == 2


async def test_gzip_bodies(http):
    client, storage = http
    body = gzip.compress(request_with(2).SerializeToString())
    response = await client.post(
        "/v1/traces", content=body, headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 200
    assert len(storage.rows["traces"]) == 2


async def test_protobuf_partial_success(http):
    client, storage = http
    response = await client.post(
        "/v1/traces", content=request_with(2, bad=3).SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 3
    assert "trace_id is all zeros" in answer.partial_success.error_message
    assert len(storage.rows["traces"]) == 2


def _one_bad_record(signal: str):
    """A request of `signal` with one good item and one that decoding refuses."""
    if signal == "traces":
        return request_with(1, bad=1)
    if signal == "logs":
        return logs_request(log_record("ok"), log_record("no time", time_unix_nano=0))
    request = make_llm_metrics_request(1)
    request.resource_metrics[0].scope_metrics[0].metrics[2].sum.data_points[0].time_unix_nano = 0
    return request


@pytest.mark.parametrize("signal", list(SIGNALS))
async def test_json_partial_success_uses_the_proto3_json_names(http, signal):
    client, _ = http
    response = await client.post(
        f"/v1/{signal}", content=to_otlp_json_bytes(_one_bad_record(signal)), headers=JSON
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    expected = SIGNALS[signal].response(1, "x")
    names = set(to_otlp_json(expected)["partialSuccess"])
    partial = response.json()["partialSuccess"]
    assert set(partial) == names  # rejectedSpans / rejectedDataPoints / rejectedLogRecords
    parsed = json_format.ParseDict(response.json(), SIGNALS[signal].response_type())
    assert getattr(parsed.partial_success, SIGNALS[signal].rejected_field) == 1
    assert parsed.partial_success.error_message


async def test_json_success_is_an_empty_object(http):
    client, _ = http
    response = await client.post(
        "/v1/traces", content=to_otlp_json_bytes(request_with(1)), headers=JSON
    )
    assert response.status_code == 200
    assert response.json() == {}


async def test_rows_storage_refuses_come_back_as_partial_success(http):
    client, storage = http
    storage.refuse = lambda row: "index row too large" if row["name"] == "span 1" else None
    response = await client.post(
        "/v1/traces", content=request_with(3).SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    partial = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert partial.partial_success.rejected_spans == 1
    assert "'span 1'" in partial.partial_success.error_message
    assert "rejected by storage: index row too large" in partial.partial_success.error_message
    assert [row["name"] for row in storage.rows["traces"]] == ["span 0", "span 2"]


# --- HTTP: refusals ----------------------------------------------------------------------


async def test_unknown_path_is_404_and_other_methods_405(http):
    client, _ = http
    assert (await client.post("/v1/profiles", content=b"", headers=PROTOBUF)).status_code == 404
    assert (await client.post("/", content=b"", headers=PROTOBUF)).status_code == 404
    response = await client.get("/v1/traces")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/grpc", "application/xml"])
async def test_unsupported_content_type_is_415(http, content_type):
    client, storage = http
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/v1/traces", content=b"{}", headers=headers)
    assert response.status_code == 415
    assert "application/x-protobuf or application/json" in response.text
    assert not storage.batches


@pytest.mark.parametrize(("headers", "is_json"), [(PROTOBUF, False), (JSON, True)])
async def test_unsupported_encoding_is_415_in_the_request_encoding(http, headers, is_json):
    client, _ = http
    response = await client.post(
        "/v1/traces", content=b"x", headers={**headers, "content-encoding": "br"}
    )
    assert response.status_code == 415
    assert (response.headers["content-type"] == "application/json") is is_json
    assert "gzip" in _status(response).message


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (PROTOBUF, b"\xff\xff\xff\xff garbage"),
        (JSON, b"{not json"),
        (JSON, b'{"resourceSpans": 5}'),
    ],
)
async def test_malformed_bodies_are_400_with_a_status_body(http, headers, body):
    client, storage = http
    response = await client.post("/v1/traces", content=body, headers=headers)
    assert response.status_code == 400
    status = _status(response)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert status.message
    assert "retry-after" not in response.headers
    assert not storage.batches


async def test_bad_gzip_is_400(http):
    client, _ = http
    response = await client.post(
        "/v1/traces", content=b"not gzip", headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 400
    assert "gzip" in _status(response).message


@pytest.mark.parametrize(("headers", "is_json"), [(PROTOBUF, False), (JSON, True)])
async def test_oversize_and_gzip_bombs_are_413(http, headers, is_json):
    client, _ = http
    response = await client.post("/v1/traces", content=b"\0" * (MAX_BYTES + 1), headers=headers)
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in _status(response).message
    bomb = gzip.compress(b"\0" * (MAX_BYTES * 16))
    assert len(bomb) < MAX_BYTES
    response = await client.post(
        "/v1/traces", content=bomb, headers={**headers, "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    assert (response.headers["content-type"] == "application/json") is is_json
    assert "once decompressed" in _status(response).message


async def test_too_many_items_is_413():
    settings = collector_settings(max_items_per_request=2)
    async with running_collector(settings) as (pipeline, _), await _client(pipeline) as client:
        response = await client.post(
            "/v1/traces", content=request_with(3).SerializeToString(), headers=PROTOBUF
        )
    assert response.status_code == 413
    assert "MAX_ITEMS_PER_REQUEST" in _status(response).message


async def test_declared_oversize_is_refused_before_reading(collector):
    pipeline, _ = collector
    app = OtlpHttpApp(pipeline, IngestKeys(""))
    receive = ChunkedReceive(chunks=1000)
    headers = [
        (b"content-type", b"application/x-protobuf"),
        (b"content-length", str(MAX_BYTES + 1).encode()),
    ]
    status, _ = await post(app, "/v1/traces", headers, receive)
    assert status == 413
    assert receive.served == 0  # not one byte read


async def test_a_body_of_exactly_the_limit_is_read_whole(collector):
    pipeline, _ = collector
    app = OtlpHttpApp(pipeline, IngestKeys(""))
    receive = ChunkedReceive(chunks=MAX_BYTES // 4096)
    headers = [
        (b"content-type", b"application/x-protobuf"),
        (b"content-length", str(MAX_BYTES).encode()),
    ]
    status, _ = await post(app, "/v1/traces", headers, receive)
    assert status == 400  # read to the end, then refused as malformed protobuf (all zeros)
    assert receive.served == MAX_BYTES // 4096


async def test_undeclared_oversize_is_refused_while_streaming(collector):
    pipeline, _ = collector
    app = OtlpHttpApp(pipeline, IngestKeys(""))
    receive = ChunkedReceive(chunks=1000)  # 4 MB without a Content-Length (chunked)
    headers = [(b"content-type", b"application/x-protobuf")]
    status, answer = await post(app, "/v1/traces", headers, receive)
    assert status == 413
    assert "MAX_REQUEST_BYTES" in status_pb2.Status.FromString(answer).message
    # reading stopped at the first chunk past the limit, not at the end of the body
    assert receive.served == MAX_BYTES // receive.size + 1


async def test_storage_down_is_503_with_retry_after(http):
    client, storage = http
    storage.broken = True
    for headers in (PROTOBUF, JSON):
        body = request_with(1)
        content = to_otlp_json_bytes(body) if headers is JSON else body.SerializeToString()
        response = await client.post("/v1/traces", content=content, headers=headers)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        status = _status(response)
        assert status.code == code_pb2.UNAVAILABLE
        assert "storage unreachable" in status.message


async def test_full_queue_is_429_with_retry_after_and_memory_stays_bounded(collector, http):
    pipeline, _ = collector
    client, storage = http
    storage.gate.clear()  # storage stalls: exports pile up
    body = request_with(6).SerializeToString()
    first = asyncio.create_task(client.post("/v1/traces", content=body, headers=PROTOBUF))
    await _until(lambda: pipeline.exporter.queued == 6)
    refused = await client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "queue full" in _status(refused).message
    storage.gate.set()
    assert (await first).status_code == 200
    assert len(storage.rows["traces"]) == 6  # the refused export never entered memory


async def test_too_many_requests_at_once_is_429_busy():
    settings = collector_settings(max_concurrent_requests=1)
    async with running_collector(settings) as (pipeline, storage):
        storage.gate.clear()
        async with await _client(pipeline) as client:
            body = request_with(1).SerializeToString()
            first = asyncio.create_task(client.post("/v1/traces", content=body, headers=PROTOBUF))
            await _until(lambda: pipeline.in_flight == 1)
            refused = await client.post("/v1/traces", content=body, headers=PROTOBUF)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert "MAX_CONCURRENT_REQUESTS=1" in _status(refused).message
            storage.gate.set()
            assert (await first).status_code == 200
            assert pipeline.in_flight == 0  # released, success or not
            assert (await client.post("/v1/traces", content=body, headers=PROTOBUF)).is_success


async def _until(condition, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


# --- gRPC ----------------------------------------------------------------------------------

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
async def grpc_channel(collector):
    pipeline, storage = collector
    channel, server = await _grpc(pipeline, IngestKeys(""))
    async with channel:
        yield channel, storage
    await server.stop(None)


async def _grpc(pipeline, keys: IngestKeys):
    server = make_grpc_server(pipeline, keys, "127.0.0.1:0")
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return grpc.aio.insecure_channel(f"127.0.0.1:{port}"), server


def _stub(channel):
    return trace_service_pb2_grpc.TraceServiceStub(channel)


def _raw(channel):
    """Export with a raw body, bytes as they are."""
    return channel.unary_unary(
        EXPORT,
        request_serializer=lambda body: body,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )


def _retry_info(error: grpc.aio.AioRpcError) -> error_details_pb2.RetryInfo:
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    return info


async def test_grpc_success(grpc_channel):
    channel, storage = grpc_channel
    response = await _stub(channel).Export(request_with(2))
    assert not response.HasField("partial_success")
    assert len(storage.rows["traces"]) == 2


async def test_grpc_partial_success(grpc_channel):
    channel, storage = grpc_channel
    storage.refuse = lambda row: "bad row" if row["name"] == "span 0" else None
    response = await _stub(channel).Export(request_with(2, bad=1))
    assert response.partial_success.rejected_spans == 2
    assert "trace_id is all zeros" in response.partial_success.error_message
    assert "rejected by storage: bad row" in response.partial_success.error_message
    assert [row["name"] for row in storage.rows["traces"]] == ["span 1"]


@pytest.mark.parametrize("signal", ["metrics", "logs"])
async def test_grpc_serves_every_signal(grpc_channel, signal):
    channel, storage = grpc_channel
    request = _one_bad_record(signal)
    method = channel.unary_unary(
        f"/{SIGNALS[signal].grpc_service}/Export",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=SIGNALS[signal].response_type.FromString,
    )
    response = await method(request)
    assert getattr(response.partial_success, SIGNALS[signal].rejected_field) == 1
    assert storage.rows[signal]


async def test_grpc_malformed_is_invalid_argument(grpc_channel):
    channel, storage = grpc_channel
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw(channel)(b"\xff\xff\xff\xff garbage")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed protobuf" in caught.value.details()
    assert not storage.batches


async def test_grpc_too_many_items_is_invalid_argument_before_parsing():
    async with running_collector(collector_settings(max_items_per_request=2)) as (pipeline, _):
        channel, server = await _grpc(pipeline, IngestKeys(""))
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                # garbage after the 3rd span: only a count that stops early says "too many"
                await _raw(channel)(request_with(3).SerializeToString() + b"\x0f\x0f")
        await server.stop(None)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "MAX_ITEMS_PER_REQUEST" in caught.value.details()


async def test_grpc_oversize_is_refused_without_retry_info(grpc_channel):
    # grpc itself refuses a message over MAX_REQUEST_BYTES; without RetryInfo the
    # exporter does not retry it.
    channel, storage = grpc_channel
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _raw(channel)(b"\0" * (MAX_BYTES + 1))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(caught.value.trailing_metadata() or ())
    assert "grpc-status-details-bin" not in trailers
    assert not storage.batches


async def test_grpc_storage_down_is_unavailable_with_retry_info(grpc_channel):
    channel, storage = grpc_channel
    storage.broken = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _stub(channel).Export(request_with(1))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _retry_info(caught.value).retry_delay.seconds >= 1


async def test_grpc_full_queue_is_resource_exhausted_with_retry_info(collector, grpc_channel):
    pipeline, _ = collector
    channel, storage = grpc_channel
    storage.gate.clear()
    first = asyncio.ensure_future(_stub(channel).Export(request_with(6)))
    await _until(lambda: pipeline.exporter.queued == 6)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _stub(channel).Export(request_with(6))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue full" in caught.value.details()
    # Without RetryInfo, OTLP exporters treat RESOURCE_EXHAUSTED as permanent.
    assert _retry_info(caught.value).retry_delay.seconds >= 1
    storage.gate.set()
    await first


async def test_grpc_busy_is_resource_exhausted_with_retry_info():
    async with running_collector(collector_settings(max_concurrent_requests=1)) as (
        pipeline,
        storage,
    ):
        storage.gate.clear()
        channel, server = await _grpc(pipeline, IngestKeys(""))
        async with channel:
            first = asyncio.ensure_future(_stub(channel).Export(request_with(1)))
            await _until(lambda: pipeline.in_flight == 1)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _stub(channel).Export(request_with(1))
            storage.gate.set()
            await first
        await server.stop(None)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MAX_CONCURRENT_REQUESTS" in caught.value.details()
    assert _retry_info(caught.value).retry_delay.seconds >= 1


# --- metrics -------------------------------------------------------------------------------


def test_known_series_exist_before_anything_happens():
    from prometheus_client import generate_latest

    from llm_observatory.collector import metrics
    from llm_observatory.collector.processors.pii import KINDS

    metrics.initialise(KINDS)
    text = generate_latest().decode()
    assert (
        'llmo_collector_items_rejected_total{protocol="grpc",reason="too_large",signal="logs"}'
        in text
    )
    assert 'llmo_collector_pii_detections_total{kind="iban"}' in text
    assert 'llmo_collector_forward_failures_total{signal="metrics"}' in text
    assert 'llmo_collector_llm_spans_total{provider="other"}' in text
