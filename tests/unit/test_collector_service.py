"""The collector's OTLP answers, in process, with a storage double we can stall or break."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llm_observatory.collector.pipeline import Enricher, Forwarder, StorageUnavailable
from llm_observatory.collector.service import Collector, OtlpHttpApp, make_grpc_server
from llm_observatory.core.settings import CollectorSettings

PROTOBUF = {"content-type": "application/x-protobuf"}


class StorageDouble:
    def __init__(self) -> None:
        self.records: list = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.broken = False

    async def ingest(self, signal, columns, rows):
        await self.gate.wait()
        if self.broken:
            raise StorageUnavailable("storage unreachable: ConnectError")
        self.records.extend(dict(zip(columns, row, strict=True)) for row in rows)
        return len(rows)


def request_with(n: int) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i in range(n):
        spans.append(
            Span(
                trace_id=bytes([1] * 15 + [i + 1]),
                span_id=bytes([2] * 7 + [i + 1]),
                name=f"span {i}",
                start_time_unix_nano=1_000,
                end_time_unix_nano=2_000,
            )
        )
    return request


@pytest.fixture
async def collector(monkeypatch):
    monkeypatch.setenv("MAX_QUEUE_SIZE", "10")
    monkeypatch.setenv("STORAGE_TIMEOUT", "2s")
    settings = CollectorSettings()
    storage = StorageDouble()
    forwarder = Forwarder(settings, storage)  # type: ignore[arg-type]
    await forwarder.start()
    yield Collector(forwarder, Enricher(settings)), storage
    storage.gate.set()
    await forwarder.stop()


@pytest.fixture
async def http(collector):
    app = OtlpHttpApp(collector[0], max_request_bytes=64 * 1024)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://collector"
    ) as client:
        yield client, collector[1]


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
    assert [record["name"] for record in storage.records] == ["span 0", "span 1", "span 2"]


async def test_storage_down_is_503_with_retry_after(http):
    client, storage = http
    storage.broken = True
    response = await client.post(
        "/v1/traces", content=request_with(1).SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "storage unreachable" in status_pb2.Status.FromString(response.content).message


async def test_full_queue_is_429_with_retry_after_and_memory_stays_bounded(http):
    client, storage = http
    storage.gate.clear()  # storage stalls: exports pile up
    body = request_with(6).SerializeToString()
    first = asyncio.create_task(client.post("/v1/traces", content=body, headers=PROTOBUF))
    await asyncio.sleep(0.05)
    refused = await client.post("/v1/traces", content=body, headers=PROTOBUF)
    assert refused.status_code == 429
    assert refused.headers["retry-after"]
    assert "queue full" in status_pb2.Status.FromString(refused.content).message
    storage.gate.set()
    assert (await first).status_code == 200
    assert len(storage.records) == 6  # the refused export never entered memory


async def test_json_in_json_out_with_partial_success(http):
    client, storage = http
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "good",
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                            },
                            {
                                "traceId": "00000000000000000000000000000000",
                                "spanId": "eee19b7ec3c1b175",
                                "name": "bad",
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                            },
                        ]
                    }
                ]
            }
        ]
    }
    response = await client.post("/v1/traces", json=body)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert partial["errorMessage"]
    assert [record["name"] for record in storage.records] == ["good"]


async def test_declared_oversize_is_refused_before_reading(http):
    client, _ = http
    response = await client.post("/v1/traces", content=b"\0" * (64 * 1024 + 1), headers=PROTOBUF)
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in status_pb2.Status.FromString(response.content).message


async def test_unsupported_encoding_is_415(http):
    client, _ = http
    response = await client.post(
        "/v1/traces", content=b"x", headers={**PROTOBUF, "content-encoding": "br"}
    )
    assert response.status_code == 415


@pytest.fixture
async def grpc_stub(collector):
    server = make_grpc_server(collector[0], "127.0.0.1:0", 4 * 1024 * 1024)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield trace_service_pb2_grpc.TraceServiceStub(channel), collector[1]
    await server.stop(None)


def _retry_info(error: grpc.aio.AioRpcError) -> error_details_pb2.RetryInfo:
    trailers = dict(error.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    return info


async def test_grpc_success(grpc_stub):
    stub, storage = grpc_stub
    response = await stub.Export(request_with(2))
    assert not response.HasField("partial_success")
    assert len(storage.records) == 2


async def test_grpc_storage_down_is_unavailable_with_retry_info(grpc_stub):
    stub, storage = grpc_stub
    storage.broken = True
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Export(request_with(1))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _retry_info(caught.value).retry_delay.seconds >= 1


async def test_grpc_full_queue_is_resource_exhausted_with_retry_info(grpc_stub):
    stub, storage = grpc_stub
    storage.gate.clear()
    first = asyncio.ensure_future(stub.Export(request_with(6)))
    await asyncio.sleep(0.05)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Export(request_with(6))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Without RetryInfo, OTLP exporters treat RESOURCE_EXHAUSTED as permanent.
    assert _retry_info(caught.value).retry_delay.seconds >= 1
    storage.gate.set()
    await first


def test_known_series_exist_before_anything_happens():
    from prometheus_client import generate_latest

    from llm_observatory.collector import metrics
    from llm_observatory.collector.pii import KINDS

    metrics.initialise(KINDS)
    text = generate_latest().decode()
    assert (
        'llmo_collector_items_rejected_total{protocol="grpc",reason="too_large",signal="logs"}'
        in text
    )
    assert 'llmo_collector_pii_detections_total{kind="iban"}' in text
    assert 'llmo_collector_forward_failures_total{signal="metrics"}' in text
