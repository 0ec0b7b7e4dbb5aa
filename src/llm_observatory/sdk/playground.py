"""`llm-observatory-playground`: example LLM apps sending traces at a steady rate.

Runs the scenarios of `llm_observatory.sdk.scenarios` round-robin at PLAYGROUND_RATE
traces per second, against a built-in fake OpenAI-compatible provider (no key, no
network), or the real OpenAI API when OPENAI_API_KEY is set. Telemetry goes where
the standard OTEL_EXPORTER_OTLP_* variables say (the collector in the stack).

    llm-observatory-playground                      # forever, PLAYGROUND_RATE/s
    llm-observatory-playground --rate 5 --scenarios chat,agent
    llm-observatory-playground --once               # each scenario once, then exit

Message content is on (the instrumentation's capture setting below, and the SDK's
opt-in in every scenario), and every trace belongs to a made-up user and conversation,
so the UI's transcripts, sessions and users have something real to show.

GET :METRICS_PORT/health answers 200 while scenarios keep finishing; /metrics counts
traces by scenario and outcome.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from pydantic import ValidationError

from llm_observatory.core.logging import configure_logging, get_logger
from llm_observatory.core.settings import PlaygroundSettings
from llm_observatory.sdk.conversations import tag_sessions
from llm_observatory.sdk.export import ConfigurationError, Telemetry, configure
from llm_observatory.sdk.scenarios import SCENARIOS, Outcome, Playground

log = get_logger("llm_observatory.playground")

# The instrumentation's newest conventions (gen_ai.provider.name, messages as span
# attributes) and message content on: the playground's prompts are made up, and the
# dashboards and PII redaction have something to show. A deployment's values win.
INSTRUMENTATION_DEFAULTS = {
    "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
}


def apply_instrumentation_defaults() -> None:
    for key, value in INSTRUMENTATION_DEFAULTS.items():
        os.environ.setdefault(key, value)


class UsageError(Exception):
    """Bad settings or arguments: the message says what to change."""


def select_scenarios(requested: list[str], available: tuple[str, ...]) -> list[str]:
    if not requested:
        return list(available)
    unknown = [name for name in requested if name not in SCENARIOS]
    if unknown:
        raise UsageError(
            f"PLAYGROUND_SCENARIOS: unknown scenario(s) {', '.join(unknown)}; "
            f"choose from {', '.join(SCENARIOS)}"
        )
    unavailable = [name for name in requested if name not in available]
    if unavailable:
        raise UsageError(
            f"PLAYGROUND_SCENARIOS: {', '.join(unavailable)} run(s) only against the built-in "
            "fake provider; unset OPENAI_API_KEY or leave them out"
        )
    return requested


def instrument_openai(telemetry: Telemetry) -> Any:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    from llm_observatory.sdk.compat import fix_genai_error_type

    fix_genai_error_type()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider,
        logger_provider=telemetry.logger_provider,
    )
    return instrumentor


def openai_client(api_key: str, base_url: str) -> Any:
    import openai

    # No retries: every attempt is one span, and a failure scenario fails at once.
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=30.0)


class Pacer:
    """Round-robin scenarios at `rate` per second, at most `workers` in flight."""

    def __init__(self, playground: Playground, scenarios: list[str], rate: float, workers: int):
        self.playground = playground
        self.scenarios = scenarios
        self.rate = rate
        self.workers = workers
        self.stop = threading.Event()
        self.registry = CollectorRegistry()
        self.traces = Counter(
            "playground_traces",
            "Scenario runs (one trace each) by outcome: ok, error (failure scenarios "
            "end in error on purpose)",
            ["scenario", "outcome"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "playground_skipped_ticks",
            "Ticks skipped because every worker was busy (the rate is not reached)",
            registry=self.registry,
        )
        self.last_finished = time.monotonic()
        self._in_flight = threading.Semaphore(workers)

    @property
    def stale_after(self) -> float:
        # Healthy while something finished recently: a few intervals, never under 30 s.
        return max(30.0, 5.0 / self.rate)

    def healthy(self) -> bool:
        return time.monotonic() - self.last_finished < self.stale_after

    def _run(self, name: str) -> None:
        try:
            outcome = self.playground.run(name)
            self.traces.labels(name, "ok" if outcome.ok else "error").inc()
            log.debug(
                "trace",
                scenario=name,
                trace_id=outcome.trace_id,
                ok=outcome.ok,
                error=outcome.error,
                ms=round(outcome.seconds * 1000, 1),
            )
        except Exception:  # a bug in a scenario must not stop the others
            self.traces.labels(name, "crash").inc()
            log.exception("scenario crashed", scenario=name)
        finally:
            self.last_finished = time.monotonic()
            self._in_flight.release()

    def run_forever(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        index = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="scenario") as pool:
            while not self.stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                    continue
                if self._in_flight.acquire(blocking=False):
                    pool.submit(self._run, self.scenarios[index % len(self.scenarios)])
                    index += 1
                else:
                    self.skipped.inc()
                next_at += interval
                # After a stall (a suspended laptop), resume the pace instead of bursting.
                if time.monotonic() - next_at > 5 * interval:
                    next_at = time.monotonic()


def serve_health(pacer: Pacer, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/health":
                ok = pacer.healthy()
                body = json.dumps(
                    {
                        "status": "ok" if ok else "stalled",
                        "seconds_since_last_trace": round(
                            time.monotonic() - pacer.last_finished, 1
                        ),
                    }
                ).encode()
                self._reply(200 if ok else 503, "application/json", body)
            elif self.path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(pacer.registry))
            else:
                self._reply(404, "text/plain", b"try /health or /metrics\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 - in a container
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()
    return server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="llm-observatory-playground",
        description="Example LLM apps sending traces to the LLM Observatory collector.",
    )
    parser.add_argument("--rate", type=float, help="traces per second (PLAYGROUND_RATE)")
    parser.add_argument(
        "--scenarios", help=f"comma-separated, from {', '.join(SCENARIOS)} (PLAYGROUND_SCENARIOS)"
    )
    parser.add_argument("--once", action="store_true", help="run each scenario once and exit")
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> PlaygroundSettings:
    overrides: dict[str, Any] = {}
    if args.rate is not None:
        overrides["playground_rate"] = args.rate
    if args.scenarios is not None:
        overrides["playground_scenarios"] = args.scenarios
    try:
        return PlaygroundSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(problems) from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args)
    except UsageError as exc:
        print(f"llm-observatory-playground: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, service="playground")
    # openai 3's HTTP client logs every request at info: noise at several per second.
    logging.getLogger("httpx2").setLevel("DEBUG" if settings.log_level == "debug" else "WARNING")
    apply_instrumentation_defaults()

    fake = None
    if settings.openai_api_key:
        # Compose passes "" when unset, which the client would take for a URL.
        base_url = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        client = openai_client(settings.openai_api_key, base_url)
    else:
        from llm_observatory.sdk.fake_openai import FakeOpenAI

        fake = FakeOpenAI(timeout_seconds=1.0).start()
        client = openai_client("sk-playground-fake-key", fake.base_url)
    playground = Playground(
        client,
        fake=fake is not None,
        model=settings.playground_model,
        embedding_model=settings.playground_embedding_model,
    )
    try:
        scenarios = select_scenarios(settings.scenarios, playground.available())
        telemetry = configure(service_name=settings.otel_service_name)
    except (UsageError, ConfigurationError) as exc:
        print(f"llm-observatory-playground: {exc}", file=sys.stderr)
        if fake is not None:
            fake.stop()
        return 2
    # The providers exist only now: the conversation and user ids go on every span.
    tag_sessions(telemetry.tracer_provider)
    instrumentor = instrument_openai(telemetry)
    log.info(
        "playground started",
        provider="fake" if fake else "openai",
        scenarios=scenarios,
        rate=settings.playground_rate,
        otlp=telemetry.endpoints["traces"],
    )
    try:
        if args.once:
            return run_once(playground, scenarios)
        pacer = Pacer(playground, scenarios, settings.playground_rate, settings.playground_workers)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: pacer.stop.set())
        server = serve_health(pacer, settings.metrics_port)
        pacer.run_forever()
        server.shutdown()
        return 0
    finally:
        instrumentor.uninstrument()
        telemetry.shutdown()
        if fake is not None:
            fake.stop()
        log.info("playground stopped")


def run_once(playground: Playground, scenarios: list[str]) -> int:
    """Each scenario once; prints one line per trace. Non-zero if a scenario misbehaved."""
    from llm_observatory.sdk.scenarios import FAILURES

    wrong = 0
    for name in scenarios:
        outcome: Outcome = playground.run(name)
        expected = name not in FAILURES
        wrong += outcome.ok != expected
        status = "ok" if outcome.ok else f"error ({outcome.error})"
        print(f"{name:<11} trace {outcome.trace_id}  {status}  {outcome.seconds * 1000:.0f} ms")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
