"""Self-tracing: the services' own spans, exported over OTLP/gRPC to Jaeger.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (compose points it at
http://jaeger:4317). Spans leave through a BatchSpanProcessor, so a request never
waits for Jaeger, and a Jaeger that is down costs dropped spans, not ingest.

A request is followed through the pipeline by W3C traceparent headers: the
collector's span per export -> its forward to storage (a child, with the header on
the HTTP call) -> storage's span per ingest request -> the database write. Batches
mix exports: a batch's span is the child of its first export and links the others.

The collector must never receive its own spans as user data (each export would make
another span to export, for ever): `setup_tracing` refuses an endpoint that points
at the calling process's own OTLP ports.

Services open their spans with `span()`, which does nothing when tracing is off.
An endpoint that does not answer (a stack started without Jaeger) costs one warning
in the log, and one info line when it answers again (core/tracing_export.py).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from llm_observatory.core.logging import get_logger
from llm_observatory.core.tracing_export import QuietExporter

log = get_logger(__name__)

SERVICE_NAME_PREFIX = "llm-observatory-"
_PROPAGATOR = TraceContextTextMapPropagator()
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "::", "ip6-localhost"}  # noqa: S104

_tracer: Tracer | None = None
_provider: Any = None


class SelfTracingLoop(ValueError):
    """The OTLP endpoint is this process itself."""


def enabled() -> bool:
    return _tracer is not None


def points_at_self(endpoint: str, own_hosts: Iterable[str], own_ports: Iterable[int]) -> bool:
    """True when `endpoint` names one of this process's own OTLP listeners."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 4317)
    except ValueError:
        return False
    hosts = {*_LOOPBACK_NAMES, socket.gethostname().lower(), *(h.lower() for h in own_hosts)}
    return host in hosts and port in set(own_ports)


def setup_tracing(
    service: str,
    endpoint: str,
    *,
    own_hosts: Iterable[str] = (),
    own_ports: Iterable[int] = (),
    exporter: Any = None,
    report: bool = True,
) -> bool:
    """Start exporting spans as `llm-observatory-<service>`; False when `endpoint` is empty.

    Raises SelfTracingLoop when `endpoint` is one of `own_ports` on this host.
    `exporter` replaces the OTLP exporter (tests keep spans in memory). `report=False`:
    an endpoint that does not answer is said in the debug log only (QuietExporter).
    """
    global _tracer, _provider
    endpoint = endpoint.strip()
    if not endpoint:
        return False
    if points_at_self(endpoint, own_hosts, own_ports):
        raise SelfTracingLoop(
            f"OTEL_EXPORTER_OTLP_ENDPOINT={endpoint} points at this {service}'s own OTLP "
            "port: its traces would be ingested as user data, making more traces. Point it "
            "at Jaeger (http://jaeger:4317) or leave it empty to turn self-tracing off"
        )
    # Imported here: a service with tracing off never loads the SDK and gRPC exporter.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = f"{SERVICE_NAME_PREFIX}{service}"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is None:
        insecure = not endpoint.startswith("https://")
        exporter = OTLPSpanExporter(
            endpoint=endpoint,
            insecure=insecure,
            timeout=EXPORT_SECONDS,
            channel_options=CHANNEL_OPTIONS,
        )
    provider.add_span_processor(
        BatchSpanProcessor(QuietExporter(exporter, endpoint, report=report))
    )
    _provider = provider
    _tracer = provider.get_tracer(f"llm_observatory.{service}")
    log.info("self-tracing on", endpoint=endpoint, service_name=name)
    return True


# Our own spans go to a Jaeger next to us: an export that takes longer is a failure.
EXPORT_SECONDS = 3
# gRPC waits longer and longer between connection attempts to an endpoint that is down
# (up to two minutes), and channels share that wait: cap it, so a Jaeger that comes
# back is seen within a probe or two (core/tracing_export.py).
CHANNEL_OPTIONS = (("grpc.max_reconnect_backoff_ms", 5000),)
SHUTDOWN_SECONDS = 1.0


def shutdown() -> None:
    """Flush what is buffered and stop exporting, within SHUTDOWN_SECONDS.

    The exporter retries an unreachable endpoint for its whole timeout: with Jaeger
    down, an unbounded flush made every stop and every hot reload seconds slower. Our
    own traces are best effort, so the flush runs in a daemon thread we stop waiting for.
    """
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        flusher = threading.Thread(target=provider.shutdown, name="tracing-shutdown", daemon=True)
        flusher.start()
        flusher.join(SHUTDOWN_SECONDS)


def current_context() -> otel_context.Context:
    """Captured per queued export, so the batch that carries it can name it as parent."""
    return otel_context.get_current()


def inject(headers: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """Add the current span's traceparent to outgoing HTTP headers."""
    _PROPAGATOR.inject(headers)
    return headers


def extract(headers: Iterable[tuple[bytes, bytes]]) -> otel_context.Context | None:
    """The caller's context from raw ASGI headers, or None without a traceparent."""
    carrier = {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in headers
        if key in (b"traceparent", b"tracestate")
    }
    return _PROPAGATOR.extract(carrier) if carrier else None


def _links(contexts: tuple[Any, ...]) -> list[Link]:
    links = []
    for ctx in contexts:
        span_context = trace.get_current_span(ctx).get_span_context()
        if span_context.is_valid:
            links.append(Link(span_context))
    return links


@contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    headers: Iterable[tuple[bytes, bytes]] | None = None,
    batch: tuple[Any, ...] = (),
) -> Iterator[Span]:
    """A current span around the block, ended with an error status if the block raises.

    With tracing off it yields a span that records nothing, so callers set attributes
    without asking. `headers`: raw ASGI headers whose traceparent is the parent.
    `batch`: the contexts captured with a batch's items (core.batching.BATCH_CONTEXTS):
    the span is the child of the first and links the others.
    """
    tracer_ = _tracer
    if tracer_ is None:
        yield INVALID_SPAN
        return
    options: dict[str, Any] = {}
    if batch:
        options = {"context": batch[0], "links": _links(batch[1:])}
    elif headers is not None:
        options = {"context": extract(headers)}
    with tracer_.start_as_current_span(
        name, kind=kind, attributes=attributes, record_exception=False, **options
    ) as current:
        try:
            yield current
        except Exception as exc:
            record_error(current, exc)
            raise


def set_http_status(span_: Span, status: int) -> None:
    """The answer's status on a SERVER span; a 5xx marks it failed."""
    span_.set_attribute("http.response.status_code", status)
    if status >= 500:
        span_.set_status(Status(StatusCode.ERROR))


def record_error(span_: Span, exc: BaseException) -> None:
    span_.record_exception(exc)
    span_.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))


class TracingMiddleware:
    """One SERVER span per HTTP request of an ASGI app (the API's), parented by traceparent.

    Cheap by construction: no per-request work when tracing is off, and the span is
    named after the matched route template (scope["route"]), not the raw path.
    """

    def __init__(self, app: Callable, skip_paths: Iterable[str] = ("/health", "/metrics")):
        self.app = app
        self.skip = frozenset(skip_paths)

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if _tracer is None or scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        with span(
            f"{scope['method']} {scope['path']}",
            kind=SpanKind.SERVER,
            headers=scope.get("headers") or (),
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as request_span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    request_span.update_name(f"{scope['method']} {route}")
                    request_span.set_attribute("http.route", route)
                set_http_status(request_span, status["code"])
