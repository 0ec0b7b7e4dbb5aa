"""`llm-observatory-collector`: OTLP gRPC on 4317, OTLP/HTTP on 4318, /health + /metrics on 9090."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import uvicorn

from llm_observatory.collector.pipeline import Enricher, Forwarder, StorageClient
from llm_observatory.collector.service import Collector, OtlpHttpApp, make_grpc_server
from llm_observatory.core import tracing
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.startup import load_settings

log = get_logger("llm_observatory.collector")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: one handler stops all three servers."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def _uvicorn(app, endpoint: str, settings: CollectorSettings) -> _Server:
    host, port = CollectorSettings.split_endpoint(endpoint)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=30,
        # OTLP exporters send large bodies; the app enforces MAX_REQUEST_BYTES itself.
        h11_max_incomplete_event_size=settings.max_request_bytes,
    )
    return _Server(config)


async def serve(settings: CollectorSettings) -> None:
    storage = StorageClient(settings.storage_service_url, settings.storage_timeout)
    forwarder = Forwarder(settings, storage)
    collector = Collector(forwarder, Enricher(settings))
    await forwarder.start()

    grpc_server = make_grpc_server(
        collector, settings.otlp_grpc_endpoint, settings.max_request_bytes
    )
    http = _uvicorn(
        OtlpHttpApp(collector, settings.max_request_bytes), settings.otlp_http_endpoint, settings
    )
    ops = _uvicorn(make_ops_app({"storage": storage.health}), settings.metrics_endpoint, settings)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)

    await grpc_server.start()
    servers = [asyncio.create_task(http.serve()), asyncio.create_task(ops.serve())]
    log.info(
        "collector listening",
        grpc=settings.otlp_grpc_endpoint,
        http=settings.otlp_http_endpoint,
        metrics=settings.metrics_endpoint,
        storage=settings.storage_service_url,
        pii_detection=settings.enable_pii_detection,
        cost_calculation=settings.enable_cost_calculation,
    )
    done, _ = await asyncio.wait(
        [*servers, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED
    )
    for task in done:
        if task in servers and task.exception():
            log.error("server failed", error=str(task.exception()))
    log.info("collector stopping: finishing exports in flight")
    # Stop taking new work, let in-flight exports finish, then close the rest.
    http_task, ops_task = servers
    http.should_exit = True
    await grpc_server.stop(grace=10)
    await asyncio.gather(http_task, return_exceptions=True)
    await forwarder.stop()
    ops.should_exit = True
    await asyncio.gather(ops_task, return_exceptions=True)
    await storage.close()
    log.info("collector stopped")


def main() -> None:
    settings = load_settings(CollectorSettings, "collector")
    try:
        start_tracing(settings)
    except tracing.SelfTracingLoop as exc:
        log.error("refusing to start", reason=str(exc))
        sys.exit(2)
    asyncio.run(serve(settings))


def start_tracing(settings: CollectorSettings) -> bool:
    """Self-tracing to Jaeger, never to this collector's own OTLP listeners."""
    own_ports = {
        CollectorSettings.split_endpoint(settings.otlp_grpc_endpoint)[1],
        CollectorSettings.split_endpoint(settings.otlp_http_endpoint)[1],
    }
    return tracing.setup_tracing(
        "collector",
        settings.otel_exporter_otlp_endpoint,
        own_hosts={"collector"},
        own_ports=own_ports,
    )


if __name__ == "__main__":
    main()
