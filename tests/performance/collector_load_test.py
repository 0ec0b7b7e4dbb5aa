"""Collector load test (locust): OTLP/HTTP protobuf batches of LLM spans.

The plan's k6 script (collector_load_test.js), in Python. Each simulated user posts
`--spans-per-request` realistic GenAI spans (agent roots and chat spans with
gen_ai.* attributes, from tests/support/otlp_builders.py) to /v1/traces. Request templates
are built once at start-up; every request gets fresh trace and span ids and current
timestamps, so storage writes every span (duplicates would be skipped cheaply and
flatter the figures). The collector answers after storage commits, so a 200 is a
committed batch; a 429/503 (back-pressure) or a partial-success rejection is a failure.

    # in the stack (web UI on LOCUST_PORT, default 8089):
    docker compose --profile load run --rm --service-ports load-tester
    # headless, with the summary:
    invoke load --users 10 --duration 60s
    # from the host against any collector:
    locust -f tests/performance/collector_load_test.py --headless -u 4 -r 4 -t 10s \\
        --host http://127.0.0.1:4318

Headless runs end with one summary block: requests/s, spans/s, failures, p50/p95/p99.
"""

from __future__ import annotations

import random
import time

from locust import FastHttpUser, between, constant, events, task
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.support.otlp_builders import BASE_TIME_NS, make_llm_span_request

TEMPLATES = 16  # distinct payloads, so batches differ in models, tokens and shapes
PROTOBUF = {"content-type": "application/x-protobuf"}
_templates: list[ExportTraceServiceRequest] = []
_spans_per_request = 100


@events.init_command_line_parser.add_listener
def _options(parser) -> None:  # type: ignore[no-untyped-def]
    parser.add_argument(
        "--spans-per-request",
        type=int,
        default=100,
        env_var="LOCUST_SPANS_PER_REQUEST",
        help="LLM spans in each OTLP export request (default 100)",
    )
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=0.0,
        env_var="LOCUST_WAIT_SECONDS",
        help="each user waits up to this long between requests (default 0: back to back)",
    )
    parser.add_argument(
        "--service-name",
        default="load-tester",
        env_var="LOCUST_SERVICE_NAME",
        help="service.name of the generated spans (default load-tester)",
    )


@events.init.add_listener
def _build_templates(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    global _spans_per_request
    options = environment.parsed_options
    _spans_per_request = options.spans_per_request if options else 100
    if _spans_per_request < 1:
        raise SystemExit("--spans-per-request must be at least 1")
    service = options.service_name if options else "load-tester"
    wait = options.wait_seconds if options else 0.0
    OtlpUser.wait_time = between(0, wait) if wait > 0 else constant(0)
    _templates[:] = [
        make_llm_span_request(_spans_per_request, service_name=service, seed=seed)
        for seed in range(TEMPLATES)
    ]


def fresh_payload(rng: random.Random) -> bytes:
    """A template with new ids and timestamps ending now, serialised."""
    request = ExportTraceServiceRequest()
    request.CopyFrom(rng.choice(_templates))
    shift = time.time_ns() - BASE_TIME_NS - 30_000_000_000
    traces: dict[bytes, bytes] = {}
    spans: dict[bytes, bytes] = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                old_trace = span.trace_id
                if old_trace not in traces:
                    traces[old_trace] = rng.randbytes(16)
                new_span = rng.randbytes(8)
                spans[span.span_id] = new_span
                span.trace_id = traces[old_trace]
                span.span_id = new_span
                # Roots precede their children in the builders' output.
                if span.parent_span_id:
                    span.parent_span_id = spans.get(span.parent_span_id, span.parent_span_id)
                span.start_time_unix_nano += shift
                span.end_time_unix_nano += shift
                for event in span.events:
                    event.time_unix_nano += shift
    return request.SerializeToString()


class OtlpUser(FastHttpUser):
    """One instrumented service exporting batches as fast as the collector takes them."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()

    @task
    def export_traces(self) -> None:
        body = fresh_payload(self.rng)
        with self.client.post(
            "/v1/traces", data=body, headers=PROTOBUF, name="OTLP /v1/traces", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            answer = ExportTraceServiceResponse.FromString(response.content or b"")
            if answer.partial_success.rejected_spans:
                response.failure(
                    f"{answer.partial_success.rejected_spans} spans rejected: "
                    f"{answer.partial_success.error_message}"
                )
            else:
                response.success()


@events.quitting.add_listener
def _summary(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """The figures an operator compares between runs, after locust's own tables."""
    total = environment.stats.total
    if not total.num_requests:
        print("\nno requests were sent", flush=True)
        return
    elapsed = max((total.last_request_timestamp or time.time()) - total.start_time, 1e-9)
    ok = total.num_requests - total.num_failures
    print(
        "\n=== collector load test ===\n"
        f"requests:          {total.num_requests} ({total.num_failures} failed)\n"
        f"requests/s:        {total.num_requests / elapsed:.1f}\n"
        f"spans/s committed: {ok * _spans_per_request / elapsed:.0f} "
        f"({_spans_per_request} spans per request)\n"
        f"failures:          {total.num_failures} ({total.fail_ratio:.2%})\n"
        f"latency p50/p95/p99: {total.get_response_time_percentile(0.5):.0f} / "
        f"{total.get_response_time_percentile(0.95):.0f} / "
        f"{total.get_response_time_percentile(0.99):.0f} ms",
        flush=True,
    )
    for error in environment.stats.errors.values():
        print(f"  {error.occurrences} x {error.error}", flush=True)
