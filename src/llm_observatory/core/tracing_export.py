"""Self-tracing's exporter wrapper: an endpoint that does not answer is one warning, not a flood.

The OTLP exporter logs every failed batch and every retry, so a stack started
without Jaeger (`docker compose up collector storage`) printed an error every second
or two, for ever. `QuietExporter` reports the state instead of the attempts: one
warning when exports start failing (with the exporter's own reason), one info line
when one succeeds again, nothing in between. While failing it drops batches at once
and tries the endpoint only every PROBE_SECONDS, so the span processor's thread does
not sit in retries and its queue does not overflow; spans are best effort.

Requests never wait on any of this: spans are queued by the BatchSpanProcessor and
exported from its own thread, and a stop waits at most tracing.SHUTDOWN_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llm_observatory.core.logging import get_logger

log = get_logger("llm_observatory.tracing")

PROBE_SECONDS = 15.0
# Where the OTLP/gRPC exporter and the batch processor log their failures: we say it once.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)
PROCESSOR_LOGGER = "opentelemetry.sdk._shared_internal"


class _Hush(logging.Filter):
    """On the exporter's loggers: keeps their lines out of the log while a QuietExporter
    is in use, noting each as the reason on the one exporting in this thread. On the
    processor's: drops "Queue full" while an endpoint is down or an export to it is
    under way (the queue fills while the first export to a dead endpoint still waits
    for its connection, before it has failed or logged anything)."""

    def filter(self, record: logging.LogRecord) -> bool:
        active = list(_active)
        if not active:
            return True
        if record.name == PROCESSOR_LOGGER:
            troubled = any(q.failing or q.in_flight for q in active)
            return not (record.levelno <= logging.WARNING and troubled)
        exporting = getattr(_exporting, "exporter", None)
        if exporting is not None:
            exporting.reason = record.getMessage()[:300]
        return False


_active: weakref.WeakSet[QuietExporter] = weakref.WeakSet()
_exporting = threading.local()
_HUSH = _Hush()


def _hush_exporter_logs() -> None:
    for name in (*EXPORTER_LOGGERS, PROCESSOR_LOGGER):
        logger = logging.getLogger(name)
        if _HUSH not in logger.filters:
            logger.addFilter(_HUSH)
    for name in EXPORTER_LOGGERS:
        # A logging.config call (alembic's) may have disabled them: we want the
        # reason, and the filter keeps their lines out of the log either way.
        logging.getLogger(name).disabled = False


class QuietExporter(SpanExporter):
    def __init__(
        self,
        exporter: SpanExporter,
        endpoint: str,
        *,
        probe_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        report: bool = True,
    ) -> None:
        self.exporter = exporter
        self.endpoint = endpoint
        # False: this process's failures go to the debug log only (one process of
        # several sharing the endpoint speaks for them all: the collector's worker 0).
        self.report = report
        self.probe_seconds = PROBE_SECONDS if probe_seconds is None else probe_seconds
        self.clock = clock
        self.failing = False
        self.in_flight = False  # an export is waiting on the endpoint
        self.reason = ""
        self.dropped = 0
        self._next_probe = 0.0
        self._lock = threading.Lock()  # export runs in the processor's thread and in flushes
        _hush_exporter_logs()
        _active.add(self)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self.failing and self.clock() < self._next_probe:
                self.dropped += len(spans)
                return SpanExportResult.FAILURE
            self.reason = ""
            _exporting.exporter = self
            self.in_flight = True
            try:
                result = self.exporter.export(spans)
            except Exception as exc:  # an exporter bug must not kill the processor's thread
                self.reason = f"{type(exc).__name__}: {exc}"[:300]
                result = SpanExportResult.FAILURE
            finally:
                _exporting.exporter = None
                self.in_flight = False
            if result is SpanExportResult.SUCCESS:
                self._answered()
            else:
                self.dropped += len(spans)
                self._failed()
            return result

    def _failed(self) -> None:
        self._next_probe = self.clock() + self.probe_seconds
        if not self.failing:
            self.failing = True
            (log.warning if self.report else log.debug)(
                "self-tracing endpoint not answering: dropping our spans, next word when "
                "it answers again",
                endpoint=self.endpoint,
                reason=self.reason or "export failed",
                retry_every_seconds=self.probe_seconds,
            )

    def _answered(self) -> None:
        if self.failing:
            (log.info if self.report else log.debug)(
                "self-tracing endpoint answers again",
                endpoint=self.endpoint,
                spans_dropped=self.dropped,
            )
        self.failing = False
        self.dropped = 0

    def shutdown(self) -> None:
        try:
            self.exporter.shutdown()
        finally:
            _active.discard(self)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)
