"""`llm-observatory-collector`: OTLP gRPC on 4317, OTLP/HTTP on 4318, /health + /metrics on 9090.

One Python process decodes and enriches at most about one core's worth of spans. With
COLLECTOR_PROCESSES=N the command is a supervisor that starts N worker processes:
they share the OTLP ports (SO_REUSEPORT; the kernel spreads connections across them),
worker 0 also serves /health and /metrics, and Prometheus metrics are aggregated over
the workers (prometheus_client's multiprocess mode). A worker that dies takes the
others down with it, so the container restarts whole.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from multiprocessing.connection import wait as wait_for_exit

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

from llm_observatory.collector import metrics
from llm_observatory.collector.exporter import Exporter, StorageClient
from llm_observatory.collector.keys import IngestKeys, InvalidKeys
from llm_observatory.collector.pipeline import Pipeline
from llm_observatory.collector.processors import pii
from llm_observatory.collector.receivers.grpc import make_grpc_server
from llm_observatory.collector.receivers.http import OtlpHttpApp
from llm_observatory.core import tracing
from llm_observatory.core.lifecycle import Listener, serve_until_stopped
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import CollectorSettings
from llm_observatory.core.startup import CONFIGURATION_ERROR, load_settings

log = get_logger("llm_observatory.collector")


def _reuse_port_socket(endpoint: str) -> socket.socket:
    host, port = CollectorSettings.split_endpoint(endpoint)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _ops_registry() -> CollectorRegistry:
    """Metrics of every worker when there are several, else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def serve(settings: CollectorSettings, worker: int = 0) -> int:
    """Run one worker process until stopped; its exit code."""
    metrics.initialise(pii.KINDS)
    storage = StorageClient(
        settings.storage_service_url, settings.storage_ingest_token, settings.storage_timeout
    )
    exporter = Exporter(settings, storage)
    pipeline = Pipeline(settings, exporter)
    keys = IngestKeys(settings.ingest_api_keys)
    grpc_servers = []  # made in start(): grpc.aio binds to the running event loop
    shared = settings.collector_processes > 1
    host, port = CollectorSettings.split_endpoint(settings.otlp_http_endpoint)
    # OTLP exporters send large bodies; the app enforces MAX_REQUEST_BYTES itself.
    http_options = {
        "timeout_keep_alive": 30,
        "h11_max_incomplete_event_size": settings.max_request_bytes,
    }
    try:
        # Workers share the OTLP/HTTP port: each binds it with SO_REUSEPORT, before serving.
        sockets = [_reuse_port_socket(settings.otlp_http_endpoint)] if shared else None
    except OSError as exc:
        log.error("listener failed to start", host=host, port=port, worker=worker, error=str(exc))
        tracing.shutdown()  # as serve_until_stopped would
        return 1
    listeners = [
        Listener(
            OtlpHttpApp(pipeline, keys),
            host,
            port,
            sockets=sockets,
            options=http_options,
        )
    ]
    # Only worker 0 serves /health and /metrics: one port, every worker's metrics.
    if worker == 0:
        ops_host, ops_port = CollectorSettings.split_endpoint(settings.metrics_endpoint)
        ops_app = make_ops_app({"storage": storage.health}, registry=_ops_registry())
        listeners.append(Listener(ops_app, ops_host, ops_port, ops=True))

    async def start() -> None:
        await exporter.start()
        grpc_servers.append(make_grpc_server(pipeline, keys, settings.otlp_grpc_endpoint))
        await grpc_servers[0].start()
        log.info(
            "collector listening",
            worker=worker,
            grpc=settings.otlp_grpc_endpoint,
            http=settings.otlp_http_endpoint,
            metrics=settings.metrics_endpoint,
            storage=settings.storage_service_url,
            pii_detection=settings.enable_pii_detection,
            cost_calculation=settings.enable_cost_calculation,
            ingest_keys="required" if keys.required else "off",
        )

    async def drain() -> None:
        # Stop taking new work, let in-flight exports finish, then stop forwarding.
        for grpc_server in grpc_servers:
            await grpc_server.stop(grace=10)
        await pipeline.wait_idle(10)
        await exporter.stop()

    async def close() -> None:
        pipeline.close()
        await storage.close()

    return serve_until_stopped("collector", listeners, start=start, drain=drain, close=close)


def main() -> None:
    settings = load_settings(CollectorSettings, "collector")
    try:
        IngestKeys(settings.ingest_api_keys)
    except InvalidKeys as exc:
        # A configuration error like any other: one line and exit 2, not a restart loop.
        print(f"llm-observatory-collector: invalid configuration: {exc}", file=sys.stderr)
        sys.exit(CONFIGURATION_ERROR)
    if settings.collector_processes > 1:
        sys.exit(supervise(settings.collector_processes))
    _run(settings, worker=0)


def _run(settings: CollectorSettings, worker: int) -> None:
    try:
        start_tracing(settings, worker)
    except tracing.SelfTracingLoop as exc:
        log.error("refusing to start", reason=str(exc))
        sys.exit(2)
    sys.exit(serve(settings, worker))


def _worker(index: int) -> None:
    settings = load_settings(CollectorSettings, "collector")
    _run(settings, worker=index)


def supervise(processes: int) -> int:
    """Start the workers; stop them all on SIGTERM/SIGINT or when one of them dies."""
    metrics_dir = tempfile.mkdtemp(prefix="llmo-collector-metrics-")
    # Set before the workers start: prometheus_client reads it when metrics are made.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    context = multiprocessing.get_context("spawn")  # grpc must not be forked
    workers = [
        context.Process(target=_worker, args=(index,), name=f"collector-{index}")
        for index in range(processes)
    ]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in workers:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in workers:
        process.start()
    log.info("collector supervisor started", workers=processes)
    try:
        ended = wait_for_exit([process.sentinel for process in workers])
        if not stopping:
            dead = [p.name for p in workers if p.sentinel in ended]
            log.error("a collector worker stopped by itself; stopping the others", workers=dead)
            stop(signal.SIGTERM, None)
        for process in workers:
            process.join(timeout=25)
            if process.is_alive():
                process.kill()
                process.join()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    clean = stopping and all(process.exitcode == 0 for process in workers)
    return 0 if clean else 1


def start_tracing(settings: CollectorSettings, worker: int = 0) -> bool:
    """Self-tracing to Jaeger, never to this collector's own OTLP listeners. Worker 0 alone
    logs that Jaeger does not answer: one warning per collector, not one per worker."""
    own_ports = {
        CollectorSettings.split_endpoint(settings.otlp_grpc_endpoint)[1],
        CollectorSettings.split_endpoint(settings.otlp_http_endpoint)[1],
    }
    return tracing.setup_tracing(
        "collector",
        settings.otel_exporter_otlp_endpoint,
        own_hosts={"collector"},
        own_ports=own_ports,
        report=worker == 0,
    )


if __name__ == "__main__":
    main()
