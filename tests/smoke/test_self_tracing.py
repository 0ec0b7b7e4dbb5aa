"""Self-tracing without Jaeger: one warning per service, then quiet until Jaeger is back.

A stack of its own (docker-compose.yml + .test-stack.yml + compose.no-jaeger.yml): the
services that trace (collector, storage, api) export to http://jaeger:4317 and nothing
is there. Traffic keeps every one of them making spans. The OTLP exporter alone would
log each failed batch and each retry, every second or two, for ever
(core/tracing_export.py says it once instead). Then a stand-in Jaeger starts (the OTLP
sink, profile sink): spans arrive from every service. It stops again: one more warning.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from llm_observatory.api.auth import mint_token
from llm_observatory.core.settings import ApiSettings
from tests.support.compose_stack import ROOT, Stack, started, worker_project
from tests.support.otlp_builders import make_llm_span_request

pytestmark = [pytest.mark.docker, pytest.mark.stack]

OVERLAY = ROOT / "tests" / "smoke" / "compose.no-jaeger.yml"
TRACED = ("collector", "storage", "api")
DOWN = "self-tracing endpoint not answering"
BACK = "self-tracing endpoint answers again"
# What the OTLP exporter and the span processor print on their own when the endpoint
# is down: none of it may reach the log.
NOISE = re.compile(
    r"Failed to export|Transient error|StatusCode\.UNAVAILABLE|Queue full|"
    r"DNS resolution failed|failed to connect to all addresses",
    re.IGNORECASE,
)
QUIET_SECONDS = 30  # longer than two probes of the endpoint (PROBE_SECONDS, 15 s)


class NoJaegerStack(Stack):
    def compose(self, *args: str, **kwargs):  # type: ignore[no-untyped-def]
        return super().compose("-f", str(OVERLAY), *args, **kwargs)

    def log_lines(self, service: str) -> list[str]:
        out = self.compose("logs", "--no-color", "--no-log-prefix", service).stdout
        return out.splitlines()

    def count(self, service: str, text: str) -> int:
        return sum(text in line for line in self.log_lines(service))


@pytest.fixture(scope="module")
def stack(docker, worker_id) -> Iterator[NoJaegerStack]:
    stack = NoJaegerStack("test", project=worker_project("-selftracing", worker_id))
    with started(stack, *TRACED):
        yield stack


@pytest.fixture(scope="module")
def traffic(stack) -> Iterator[None]:
    """Spans from every traced service, about every second, for the module."""
    otlp = stack.url("collector", 4318, "/v1/traces")
    token = mint_token(f"selftracing-{uuid.uuid4().hex[:8]}", 3600, ApiSettings())
    api = httpx.Client(
        base_url=stack.url("api", 8080), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    stop = threading.Event()
    errors: list[str] = []

    def send() -> None:
        while not stop.is_set():
            body = make_llm_span_request(2, service_name="selftracing").SerializeToString()
            try:
                # An export makes the collector's span and storage's; a query the API's.
                ingest = httpx.post(
                    otlp, content=body, headers={"content-type": "application/x-protobuf"}
                )
                query = api.get("/api/v1/traces", params={"limit": 1})
                if ingest.status_code != 200 or query.status_code != 200:
                    errors.append(f"ingest {ingest.status_code}, query {query.status_code}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            stop.wait(1)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(15)
        api.close()
    # Self-tracing is best effort: a missing Jaeger must never cost a request.
    assert not errors, errors[:5]


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(1)


def _warnings(stack: NoJaegerStack) -> dict[str, int]:
    return {service: stack.count(service, DOWN) for service in TRACED}


def _noise(stack: NoJaegerStack) -> dict[str, list[str]]:
    """Exporter lines other than our own (whose reason quotes the exporter's words)."""
    lines = {
        service: [
            line
            for line in stack.log_lines(service)
            if NOISE.search(line) and DOWN not in line and BACK not in line
        ]
        for service in TRACED
    }
    return {service: found[:3] for service, found in lines.items() if found}


def _spans_received(stack: NoJaegerStack) -> set[str]:
    out = stack.compose("logs", "--no-color", "--no-log-prefix", "jaeger").stdout
    return set(re.findall(r"received \d+ spans from llm-observatory-(\w+)", out))


def test_without_jaeger_one_warning_per_service_then_quiet(stack, traffic):
    # The first failing export of each service says so ...
    _until(lambda: all(_warnings(stack).values()), 60, f"a warning from each of {TRACED}")
    # ... and nothing more while spans keep coming and the endpoint is probed again.
    time.sleep(QUIET_SECONDS)
    assert _warnings(stack) == dict.fromkeys(TRACED, 1)
    assert not _noise(stack), _noise(stack)


def test_spans_arrive_once_jaeger_is_up_and_its_loss_is_one_warning_more(stack, traffic):
    _until(lambda: all(_warnings(stack).values()), 60, f"a warning from each of {TRACED}")
    stack.compose("--profile", "sink", "up", "--detach", "--wait", "jaeger")
    _until(
        lambda: _spans_received(stack) >= set(TRACED),
        90,
        f"spans from each of {TRACED} in the sink (got {_spans_received(stack)})",
    )
    # Each says so once, at its first export that gets through (the collector's worker
    # 0 speaks for its workers and probes on its own clock: it may be a probe later).
    _until(
        lambda: all(stack.count(service, BACK) for service in TRACED),
        60,
        f"an 'answers again' line from each of {TRACED}",
    )
    assert {service: stack.count(service, BACK) for service in TRACED} == dict.fromkeys(TRACED, 1)

    stack.compose("--profile", "sink", "stop", "jaeger")
    _until(
        lambda: all(count == 2 for count in _warnings(stack).values()),
        90,
        f"a second warning from each of {TRACED} (got {_warnings(stack)})",
    )
    time.sleep(QUIET_SECONDS)
    assert _warnings(stack) == dict.fromkeys(TRACED, 2)
    assert not _noise(stack), _noise(stack)
