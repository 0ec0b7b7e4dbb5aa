"""`llm-observatory-playground`: example LLM apps sending traces at a steady rate.

Runs the scenarios of `llm_observatory.playground.scenarios` round-robin at
PLAYGROUND_RATE traces per second, against a built-in fake OpenAI-compatible provider
(no key, no network), or the real OpenAI API when OPENAI_API_KEY is set. Telemetry
goes where the standard OTEL_EXPORTER_OTLP_* variables say (the collector in the
stack), through the SDK (`llm_observatory.sdk`).

    llm-observatory-playground                      # forever, PLAYGROUND_RATE/s
    llm-observatory-playground --rate 5 --scenarios chat,agent
    llm-observatory-playground --once               # each scenario once, then exit

Message content is on (instrumentation.py, and the SDK's opt-in in every scenario),
and every trace belongs to a made-up user and conversation, so the UI's transcripts,
sessions and users have something real to show.

GET :METRICS_PORT/health answers 200 while scenarios keep finishing; /metrics counts
traces by scenario and outcome. Signals, the stop and the exit code: core/lifecycle.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

from pydantic import ValidationError

from llm_observatory.core.lifecycle import Listener, serve_until_stopped
from llm_observatory.core.logging import configure_logging, get_logger
from llm_observatory.core.ops import make_ops_app
from llm_observatory.core.settings import PlaygroundSettings
from llm_observatory.playground.conversations import tag_sessions
from llm_observatory.playground.instrumentation import (
    apply_instrumentation_defaults,
    instrument_openai,
    openai_client,
)
from llm_observatory.playground.pacer import Pacer
from llm_observatory.playground.scenarios import FAILURES, SCENARIOS, Outcome, Playground
from llm_observatory.sdk import ConfigurationError, configure

log = get_logger("llm_observatory.playground")


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


def serve(pacer: Pacer, port: int) -> int:
    """Run the pacer until SIGTERM/SIGINT, /health and /metrics on `port`; the exit code."""

    async def run_scenarios(stopping: asyncio.Event) -> None:
        runner = asyncio.create_task(asyncio.to_thread(pacer.run_forever))
        waiter = asyncio.create_task(stopping.wait())
        await asyncio.wait([runner, waiter], return_when=asyncio.FIRST_COMPLETED)
        pacer.stop.set()
        waiter.cancel()
        await runner  # the scenarios in flight finish (their traces end cleanly)

    ops = make_ops_app({"scenarios": pacer.check}, registry=pacer.registry)
    listener = Listener(ops, "0.0.0.0", port, ops=True)  # noqa: S104 - in a container
    return serve_until_stopped("playground", [listener], background=run_scenarios)


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
        from llm_observatory.playground.fake_openai import FakeOpenAI

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
        return serve(pacer, settings.metrics_port)
    finally:
        instrumentor.uninstrument()
        telemetry.shutdown()
        if fake is not None:
            fake.stop()
        log.info("playground stopped")


def run_once(playground: Playground, scenarios: list[str]) -> int:
    """Each scenario once; prints one line per trace. Non-zero if a scenario misbehaved."""
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
