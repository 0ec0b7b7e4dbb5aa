"""Self-tracing (core/tracing.py): one trace follows an export from the collector
through storage's ingest API to the database write, and the collector refuses to
trace into itself."""

from __future__ import annotations

import itertools

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_observatory.collector import main as collector_main
from llm_observatory.collector.exporter import Exporter, StorageClient
from llm_observatory.collector.pipeline import Pipeline
from llm_observatory.core import tracing
from llm_observatory.core.settings import CollectorSettings, StorageSettings
from llm_observatory.core.signals import TRACES
from llm_observatory.storage.service import IngestApp, Storage
from llm_observatory.storage.writer import TableWriter, WriteResult
from tests.support.collector_harness import PROTOBUF, collector_settings
from tests.support.otlp_builders import make_llm_span_request

OWN = {"own_hosts": {"collector"}, "own_ports": {4317, 4318}}


@pytest.mark.parametrize(
    "endpoint",
    ["http://collector:4317", "collector:4318", "http://localhost:4317", "http://127.0.0.1:4318"],
)
def test_an_endpoint_on_the_collectors_own_ports_is_itself(endpoint):
    assert tracing.points_at_self(endpoint, **OWN)


@pytest.mark.parametrize(
    "endpoint", ["http://jaeger:4317", "http://collector:9999", "https://otel.example.com"]
)
def test_other_endpoints_are_not(endpoint):
    assert not tracing.points_at_self(endpoint, **OWN)


def test_the_collector_refuses_to_trace_into_itself():
    settings = CollectorSettings(otel_exporter_otlp_endpoint="http://collector:4317")
    with pytest.raises(tracing.SelfTracingLoop, match="Jaeger"):
        collector_main.start_tracing(settings)
    assert not tracing.enabled()


def test_no_endpoint_no_tracing():
    assert tracing.setup_tracing("collector", "") is False
    assert not tracing.enabled()
    with tracing.span("nothing", attributes={"a": 1}) as span:
        span.set_attribute("b", 2)  # callers need not ask whether tracing is on
    assert not span.is_recording()


async def test_a_span_records_the_error_that_leaves_it_and_reraises():
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("test", "http://jaeger:4317", exporter=exporter)
    try:
        with pytest.raises(ConnectionError), tracing.span("forward traces"):
            raise ConnectionError("storage unreachable")
    finally:
        tracing.shutdown()
    [span] = exporter.get_finished_spans()
    assert not span.status.is_ok
    assert span.status.description == "ConnectionError: storage unreachable"
    assert [event.name for event in span.events] == ["exception"]


class HeaderRecorder:
    """ASGI wrapper noting the headers of each request storage receives."""

    def __init__(self, app):
        self.app = app
        self.headers: list[dict[bytes, bytes]] = []

    async def __call__(self, scope, receive, send):
        self.headers.append(dict(scope["headers"]))
        await self.app(scope, receive, send)


TOKEN = "test-storage-token-0123456789"


async def _pipeline(monkeypatch):
    """Collector -> storage ingest API (in process) -> a writer that commits nothing."""
    written: list[int] = []

    async def write_rows(self, rows):
        written.append(len(rows))
        return WriteResult(inserted=len(rows))

    monkeypatch.setattr(TableWriter, "write_rows", write_rows)
    storage = Storage(StorageSettings(storage_ingest_token=TOKEN), pool=None)
    storage.start()
    recorder = HeaderRecorder(IngestApp(storage))
    client = StorageClient("http://storage", TOKEN, timeout=5)
    await client.close()
    client._client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=recorder), base_url="http://storage"
    )
    settings = collector_settings()
    exporter = Exporter(settings, client)
    pipeline = Pipeline(settings, exporter)
    await exporter.start()

    async def export():
        body = make_llm_span_request(4).SerializeToString()
        await pipeline.export(TRACES, body, media_type=PROTOBUF, protocol="http")

    async def close():
        await exporter.stop()
        pipeline.close()
        await storage.stop()
        await client.close()

    return export, recorder, written, close


async def test_one_trace_follows_an_export_to_the_database_write(monkeypatch):
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("collector", "http://jaeger:4317", exporter=exporter)
    try:
        export, recorder, written, close = await _pipeline(monkeypatch)
        await export()
        await close()
    finally:
        tracing.shutdown()
    assert written == [4]
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"export traces", "forward traces", "ingest traces", "write spans"}
    chain = ["export traces", "forward traces", "ingest traces", "write spans"]
    trace_ids = {spans[name].context.trace_id for name in chain}
    assert len(trace_ids) == 1, "the pipeline's spans are not one trace"
    assert spans["export traces"].parent is None
    for parent, child in itertools.pairwise(chain):
        assert spans[child].parent.span_id == spans[parent].context.span_id, child
    # storage learned its parent from the traceparent header on the forward.
    assert b"traceparent" in recorder.headers[0]
    assert spans["export traces"].resource.attributes["service.name"] == (
        "llm-observatory-collector"
    )


async def test_with_tracing_off_no_traceparent_is_sent(monkeypatch):
    assert not tracing.enabled()
    export, recorder, written, close = await _pipeline(monkeypatch)
    await export()
    await close()
    assert written == [4]
    assert b"traceparent" not in recorder.headers[0]


async def test_the_api_middleware_makes_one_span_per_request_named_by_route():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def trace(request):
        return PlainTextResponse(request.path_params["trace_id"])

    async def boom(request):
        return PlainTextResponse("no", status_code=503)

    app = Starlette(routes=[Route("/traces/{trace_id}", trace), Route("/boom", boom)])
    exporter = InMemorySpanExporter()
    tracing.setup_tracing("api", "http://jaeger:4317", exporter=exporter)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    try:
        transport = httpx.ASGITransport(app=tracing.TracingMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            assert (await client.get("/traces/abc", headers={"traceparent": parent})).is_success
            assert (await client.get("/boom")).status_code == 503
            assert (await client.get("/health")).status_code == 404  # not traced
    finally:
        tracing.shutdown()
    first, second = exporter.get_finished_spans()
    assert first.name == "GET /traces/{trace_id}"
    assert first.attributes["http.route"] == "/traces/{trace_id}"
    assert format(first.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(first.parent.span_id, "016x") == "b7ad6b7169203331"
    assert second.attributes["http.response.status_code"] == 503
    assert not second.status.is_ok


def test_shutdown_does_not_wait_for_an_unreachable_exporter():
    """With Jaeger down, a stop (or a hot reload) must not hang on the final flush."""
    import socket
    import time

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert tracing.setup_tracing("test", f"http://127.0.0.1:{port}")
    with tracing.span("unsent"):
        pass
    started = time.monotonic()
    tracing.shutdown()
    # The exporter alone would retry for its timeout, after the flush.
    assert time.monotonic() - started < tracing.SHUTDOWN_SECONDS + 1.0
    assert not tracing.enabled()
