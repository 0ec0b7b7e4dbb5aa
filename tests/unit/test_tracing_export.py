"""Self-tracing to an endpoint that does not answer (a stack without Jaeger): one warning,
then silence until it answers again (one info line); requests and stops never wait."""

from __future__ import annotations

import logging
import socket
import time
import weakref

import grpc
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from structlog.testing import capture_logs

from llm_observatory.core import tracing, tracing_export
from llm_observatory.core.tracing_export import EXPORTER_LOGGERS, PROCESSOR_LOGGER, QuietExporter
from tests.support import otlp_sink

WARNING_EVENT = (
    "self-tracing endpoint not answering: dropping our spans, next word when it answers again"
)
BACK_EVENT = "self-tracing endpoint answers again"
exporter_log = logging.getLogger(EXPORTER_LOGGERS[0])


class FlakyExporter(SpanExporter):
    """Fails while `down`, logging as the OTLP exporter does on every failed attempt."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def export(self, spans):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down:
            exporter_log.warning("Transient error StatusCode.UNAVAILABLE, retrying in 1s")
            exporter_log.error("Failed to export traces to jaeger:4317, UNAVAILABLE")
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def log_lines(structlog_events, records, endpoint: str = "http://jaeger:4317") -> list[str]:
    """Every line the service would print at info or above: our events and the libraries'.

    Our events arrive in `structlog_events`, or as standard-library records when an
    earlier test configured logging (core/logging.py caches its loggers). Events about
    other endpoints are left out: an earlier test's exporter may still be flushing in
    its daemon thread (a stop does not wait for it).
    """
    lines = [(e, e.get("log_level")) for e in structlog_events]
    for record in records:
        if record.levelno >= logging.INFO:
            event = record.msg if isinstance(record.msg, dict) else {"event": record.getMessage()}
            lines.append((event, record.levelname.lower()))
    return [
        event["event"]
        for event, level in lines
        if level in {"info", "warning", "error", "critical"}
        and event.get("endpoint", endpoint) == endpoint
    ]


def _ours(structlog_events, records, endpoint: str = "http://jaeger:4317") -> list[dict]:
    events = [*structlog_events, *(r.msg for r in records if isinstance(r.msg, dict))]
    return [e for e in events if e.get("endpoint") == endpoint]


def test_failures_log_one_warning_then_nothing_until_the_endpoint_answers(caplog):
    inner, clock = FlakyExporter(), Clock()
    quiet = QuietExporter(inner, "http://jaeger:4317", probe_seconds=15, clock=clock)
    caplog.set_level(logging.INFO)
    try:
        with capture_logs() as events:
            for _ in range(600):  # ten minutes of batches every second
                assert quiet.export([object()]) is SpanExportResult.FAILURE
                clock.now += 1
        assert log_lines(events, caplog.records) == [WARNING_EVENT]
        [warning] = _ours(events, caplog.records)
        assert warning["endpoint"] == "http://jaeger:4317"
        assert "UNAVAILABLE" in warning["reason"], "the exporter's own reason is kept"
        # Between probes the dead endpoint is not even tried: no thread sits in retries.
        assert inner.calls == 600 // 15
        caplog.clear()

        inner.down = False
        clock.now += 15
        with capture_logs() as events:
            for _ in range(100):
                assert quiet.export([object()]) is SpanExportResult.SUCCESS
        assert log_lines(events, caplog.records) == [BACK_EVENT]
        [back] = _ours(events, caplog.records)
        assert back["spans_dropped"] == 600
        caplog.clear()

        inner.down = True  # Jaeger goes away again: one more warning, not one per batch
        with capture_logs() as events:
            for _ in range(100):
                quiet.export([object()])
                clock.now += 1
        assert log_lines(events, caplog.records) == [WARNING_EVENT]
    finally:
        quiet.shutdown()


def test_queue_full_is_quiet_only_while_the_endpoint_is_down(caplog, monkeypatch):
    """The span processor warns when its queue overflows: expected while the endpoint is
    down (already said once), news when it answers and spans come faster than it takes.
    (Each message differs: the processor's own filter drops a repeat within 20 s.)"""
    # An earlier test's exporter may still be flushing to a dead endpoint: not this one's.
    monkeypatch.setattr(tracing_export, "_active", weakref.WeakSet())
    processor_log = logging.getLogger(PROCESSOR_LOGGER)
    messages = iter(f"Queue full, dropping Span. ({n})" for n in range(3))

    class Overflowing(FlakyExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            result = super().export(spans)  # a retry logged first, as the OTLP exporter does
            if self.down:
                processor_log.warning(next(messages))  # meanwhile, in a request's thread
            return result

    inner, clock = Overflowing(), Clock()
    quiet = QuietExporter(inner, "http://jaeger:4317", clock=clock)
    caplog.set_level(logging.INFO)
    try:
        quiet.export([object()])  # the first failing export, still retrying
        processor_log.warning(next(messages))  # known to be down
        assert not [line for line in log_lines([], caplog.records) if "Queue" in line]
        inner.down = False
        clock.now += quiet.probe_seconds
        quiet.export([object()])
        processor_log.warning(next(messages))  # up again, and overloaded
        assert [line for line in log_lines([], caplog.records) if "Queue" in line] == [
            "Queue full, dropping Span. (2)"
        ]
    finally:
        quiet.shutdown()


def test_a_process_that_does_not_report_stays_at_debug(caplog):
    """The collector's workers share one endpoint: worker 0 alone says it is down."""
    inner, clock = FlakyExporter(), Clock()
    quiet = QuietExporter(inner, "http://jaeger:4317", clock=clock, report=False)
    caplog.set_level(logging.INFO)
    try:
        with capture_logs() as events:
            quiet.export([object()])
            assert quiet.failing  # it knows, it only does not say so
            inner.down = False
            clock.now += 60
            quiet.export([object()])
            assert not quiet.failing
        assert log_lines(events, caplog.records) == []
    finally:
        quiet.shutdown()


def test_an_exporter_that_raises_counts_as_a_failure(caplog):
    class Broken(FlakyExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            raise OSError("no route to host")

    quiet = QuietExporter(Broken(), "http://jaeger:4317", clock=Clock())
    try:
        with capture_logs() as events:
            assert quiet.export([object()]) is SpanExportResult.FAILURE
        assert [e["reason"] for e in _ours(events, caplog.records)] == ["OSError: no route to host"]
    finally:
        quiet.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _jaeger(port: int, received: list[int]) -> grpc.Server:
    return otlp_sink.start(f"127.0.0.1:{port}", lambda _service, spans: received.append(spans))


def _wait_for(condition, seconds: float) -> bool:
    """Until `condition()`, with a span now and then: an exporter with nothing to send
    does not try the endpoint."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        with tracing.span("request"):
            time.sleep(0.05)
    return False


def test_the_real_exporter_without_jaeger_then_with_it(monkeypatch, caplog):
    """OTLP/gRPC to a port nobody listens on, then a receiver appears there."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export every 50 ms
    monkeypatch.setattr("llm_observatory.core.tracing_export.PROBE_SECONDS", 0.3)
    caplog.set_level(logging.INFO)
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    received: list[int] = []
    server = None
    with capture_logs() as events:
        assert tracing.setup_tracing("test", endpoint)
        try:
            spans = 0
            warned_at = None
            deadline = time.monotonic() + 20
            # Requests go on while Jaeger is away: until the warning, then for several
            # probes more (each tries the endpoint again, and must say nothing).
            while time.monotonic() < (warned_at + 2 if warned_at else deadline):
                with tracing.span("request"):
                    spans += 1
                time.sleep(0.001)
                if warned_at is None and WARNING_EVENT in log_lines(
                    events, caplog.records, endpoint
                ):
                    warned_at = time.monotonic()
            down = log_lines(events, caplog.records, endpoint)
            server = _jaeger(port, received)
            assert _wait_for(
                lambda: BACK_EVENT in log_lines(events, caplog.records, endpoint), 20
            ), down
            assert _wait_for(lambda: received, 5)
        finally:
            stop_started = time.monotonic()
            tracing.shutdown()
            stop_seconds = time.monotonic() - stop_started
            if server is not None:
                server.stop(0)
    assert [line for line in down if line != "self-tracing on"] == [WARNING_EVENT], down
    assert spans > 500, "span creation waited on the dead endpoint"
    lines = log_lines(events, caplog.records, endpoint)
    lines = [line for line in lines if line != "self-tracing on"]
    assert lines == [WARNING_EVENT, BACK_EVENT], lines
    assert stop_seconds < tracing.SHUTDOWN_SECONDS + 1


def test_queue_full_is_quiet_while_the_first_export_still_waits_on_the_endpoint(
    caplog, monkeypatch
):
    """A dead endpoint's first export may wait seconds for its connection before it
    fails or logs anything; the queue fills meanwhile (seen on a loaded machine)."""
    monkeypatch.setattr(tracing_export, "_active", weakref.WeakSet())
    processor_log = logging.getLogger(PROCESSOR_LOGGER)

    class Connecting(FlakyExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            processor_log.warning("Queue full, dropping Span. (waiting)")  # a request's thread
            return super().export(spans)

    quiet = QuietExporter(Connecting(), "http://jaeger:4317", clock=Clock())
    caplog.set_level(logging.INFO)
    try:
        quiet.export([object()])
        assert not [line for line in log_lines([], caplog.records) if "Queue" in line]
    finally:
        quiet.shutdown()
