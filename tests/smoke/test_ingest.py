"""OTLP in, rows out: the ingest path against the running test stack.

An export that got a success answer has been committed (the collector acknowledges
only after storage commits), so the tests read the database right after the answer,
without polling: a row that is missing then is a broken guarantee, not a slow test.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import threading
import time
import uuid
from decimal import Decimal

import httpx
import pytest
from genai_prices import Usage, calc_price
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from llm_observatory.playground.fake_openai import FakeOpenAI

PROTOBUF = {"content-type": "application/x-protobuf"}


# Per test: a restarted container gets a new ephemeral host port.
@pytest.fixture
def otlp_http(stack) -> str:
    return stack.url("collector", 4318)


@pytest.fixture
def otlp_grpc(stack) -> str:
    return f"127.0.0.1:{stack.port('collector', 4317)}"


def rows(db, service: str) -> list[dict]:
    cur = db.execute(
        "SELECT *, spans::text AS whole_row FROM spans WHERE service_name = %s ORDER BY start_time",
        (service,),
    )
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def tracer(exporter, service: str):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def emit_llm_trace(provider) -> None:
    tracer_ = provider.get_tracer("test")
    # Nested: the chat span is the child of the request span.
    with (
        tracer_.start_as_current_span("handle request"),
        tracer_.start_as_current_span("chat gpt-4o") as span,
    ):
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4o")
        span.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
        span.set_attribute("gen_ai.usage.input_tokens", 321)
        span.set_attribute("gen_ai.usage.output_tokens", 45)


def expected_cost(model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price = calc_price(
        Usage(input_tokens=input_tokens, output_tokens=output_tokens), model, provider_id="openai"
    )
    return Decimal(str(price.total_price))


def assert_llm_row(row: dict) -> None:
    assert row["is_llm"] is True
    assert (row["provider"], row["operation"]) == ("openai", "chat")
    assert (row["request_model"], row["model"]) == ("gpt-4o", "gpt-4o-2024-08-06")
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (321, 45, 366)
    assert row["cost_usd"] == pytest.approx(expected_cost("gpt-4o-2024-08-06", 321, 45))
    assert row["cost_usd"] > 0


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_sdk_exporter_spans_land_with_model_tokens_and_cost(protocol, otlp_http, otlp_grpc, db):
    service = f"sdk-{protocol}-{uuid.uuid4().hex[:8]}"
    if protocol == "http":
        exporter = HttpSpanExporter(endpoint=f"{otlp_http}/v1/traces")
    else:
        exporter = GrpcSpanExporter(endpoint=otlp_grpc, insecure=True)
    provider = tracer(exporter, service)
    emit_llm_trace(provider)
    provider.shutdown()

    found = rows(db, service)
    assert [row["name"] for row in found] == ["handle request", "chat gpt-4o"]
    root, chat = found
    assert root["is_llm"] is False and root["parent_span_id"] is None
    assert chat["parent_span_id"] == root["span_id"]
    assert chat["trace_id"] == root["trace_id"]
    assert chat["kind"] == "internal"
    assert_llm_row(chat)


def test_real_genai_instrumentation_of_the_openai_client(otlp_http, db):
    openai = pytest.importorskip("openai")
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    service = f"openai-{uuid.uuid4().hex[:8]}"
    provider = tracer(HttpSpanExporter(endpoint=f"{otlp_http}/v1/traces"), service)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI(prompt_tokens=321, completion_tokens=45) as fake:
            client = openai.OpenAI(base_url=fake.base_url, api_key="sk-test-not-a-real-key")
            answer = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "How do I reset it?"}]
            )
        assert answer.usage.prompt_tokens == 321
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    (row,) = rows(db, service)
    assert row["name"] == "chat gpt-4o"
    assert row["kind"] == "client"
    assert_llm_row(row)
    assert row["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


def _span(trace_id: bytes, span_id: bytes, name: str, **attributes) -> Span:
    now = time.time_ns()
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=now - 50_000_000,
        end_time_unix_nano=now,
    )
    for key, value in attributes.items():
        kv = span.attributes.add()
        kv.key = key
        if isinstance(value, int):
            kv.value.int_value = value
        else:
            kv.value.string_value = value
    return span


def _request(service: str, *spans: Span) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", service
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def test_hand_written_otlp_json(otlp_http, db):
    service = f"json-{uuid.uuid4().hex[:8]}"
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    now = time.time_ns()
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "hand-written"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "chat claude",
                                "kind": 3,
                                "startTimeUnixNano": str(now - 1_500_000_000),
                                "endTimeUnixNano": str(now),
                                "attributes": [
                                    {"key": "gen_ai.system", "value": {"stringValue": "anthropic"}},
                                    {
                                        "key": "gen_ai.request.model",
                                        "value": {"stringValue": "claude-3-5-sonnet-20241022"},
                                    },
                                    {
                                        "key": "gen_ai.usage.prompt_tokens",
                                        "value": {"intValue": "1000"},
                                    },
                                    {
                                        "key": "gen_ai.usage.completion_tokens",
                                        "value": {"intValue": 200},
                                    },
                                ],
                                "status": {"code": "STATUS_CODE_ERROR", "message": "overloaded"},
                                "unknownFieldsAreIgnored": True,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = httpx.post(f"{otlp_http}/v1/traces", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"

    (row,) = rows(db, service)
    assert (row["trace_id"], row["span_id"]) == (trace_id, span_id)
    assert row["duration_ms"] == pytest.approx(1500.0)
    assert (row["status_code"], row["status_message"]) == ("error", "overloaded")
    assert (row["provider"], row["model"]) == ("anthropic", "claude-3-5-sonnet-20241022")
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 200)
    assert row["cost_usd"] is not None and row["cost_usd"] > 0


def test_pii_is_redacted_before_it_is_stored(otlp_http, db):
    service = f"pii-{uuid.uuid4().hex[:8]}"
    secret_email, secret_card = "jane.doe@example.com", "4111 1111 1111 1111"
    prompt = json.dumps(
        [
            {
                "role": "user",
                "parts": [{"type": "text", "content": f"I am {secret_email}, card {secret_card}"}],
            }
        ]
    )
    span = _span(
        uuid.uuid4().bytes,
        uuid.uuid4().bytes[:8],
        "chat gpt-4o",
        **{
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": prompt,
            "app.customer_email": secret_email,
        },
    )
    response = httpx.post(
        f"{otlp_http}/v1/traces",
        content=_request(service, span).SerializeToString(),
        headers=PROTOBUF,
    )
    assert response.status_code == 200

    (row,) = rows(db, service)
    assert row["pii_types"] == ["credit_card", "email"]
    assert secret_email not in row["whole_row"]
    assert "4111" not in row["whole_row"]
    assert "[REDACTED:email]" in json.dumps(row["input_messages"])


def test_partial_success_reports_the_rejected_spans(otlp_http, db):
    service = f"partial-{uuid.uuid4().hex[:8]}"
    good = [_span(uuid.uuid4().bytes, uuid.uuid4().bytes[:8], f"ok {i}") for i in range(2)]
    bad = _span(b"\0" * 16, uuid.uuid4().bytes[:8], "zero trace id")
    response = httpx.post(
        f"{otlp_http}/v1/traces",
        content=_request(service, *good, bad).SerializeToString(),
        headers=PROTOBUF,
    )
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert "trace" in answer.partial_success.error_message.lower()
    assert sorted(row["name"] for row in rows(db, service)) == ["ok 0", "ok 1"]


def _still_serving(otlp_http, db) -> None:
    service = f"alive-{uuid.uuid4().hex[:8]}"
    span = _span(uuid.uuid4().bytes, uuid.uuid4().bytes[:8], "after the bad one")
    response = httpx.post(
        f"{otlp_http}/v1/traces",
        content=_request(service, span).SerializeToString(),
        headers=PROTOBUF,
    )
    assert response.status_code == 200
    assert len(rows(db, service)) == 1


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xfe not protobuf at all", PROTOBUF, 400),
        (b'{"resourceSpans": [', {"content-type": "application/json"}, 400),
        (b'{"resourceSpans": 5}', {"content-type": "application/json"}, 400),
        (b"<xml/>", {"content-type": "application/xml"}, 415),
        (b"\x1f\x8b not gzip", {**PROTOBUF, "content-encoding": "gzip"}, 400),
    ],
    ids=["garbage-protobuf", "truncated-json", "wrong-json-type", "xml", "bad-gzip"],
)
def test_bad_payloads_get_their_4xx_and_the_collector_keeps_serving(
    otlp_http, db, body, headers, status
):
    response = httpx.post(f"{otlp_http}/v1/traces", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 400 and headers["content-type"] == PROTOBUF["content-type"]:
        message = status_pb2.Status.FromString(response.content).message
        assert message  # readable reason, in the OTLP error encoding
    elif status == 400:
        assert response.json()["message"]
    _still_serving(otlp_http, db)


def test_oversized_bodies_get_413(otlp_http, db):
    # MAX_REQUEST_BYTES: 16 MiB by default, in the test stack too.
    big = b"\0" * (16 * 1024 * 1024 + 1)
    response = httpx.post(f"{otlp_http}/v1/traces", content=big, headers=PROTOBUF)
    assert response.status_code == 413
    bomb = gzip.compress(b"\0" * (32 * 1024 * 1024))  # 32 MiB inflated from a few KiB
    response = httpx.post(
        f"{otlp_http}/v1/traces", content=bomb, headers={**PROTOBUF, "content-encoding": "gzip"}
    )
    assert response.status_code == 413
    _still_serving(otlp_http, db)


def test_gzip_bodies_are_accepted(otlp_http, db):
    service = f"gzip-{uuid.uuid4().hex[:8]}"
    span = _span(uuid.uuid4().bytes, uuid.uuid4().bytes[:8], "compressed")
    response = httpx.post(
        f"{otlp_http}/v1/traces",
        content=gzip.compress(_request(service, span).SerializeToString()),
        headers={**PROTOBUF, "content-encoding": "gzip"},
    )
    assert response.status_code == 200
    assert len(rows(db, service)) == 1


def test_wrong_method_and_path(otlp_http):
    assert httpx.get(f"{otlp_http}/v1/traces").status_code == 405
    assert httpx.post(f"{otlp_http}/v2/traces", content=b"", headers=PROTOBUF).status_code == 404


class Sender(threading.Thread):
    """Exports one span per request, as fast as answers come, remembering what was acknowledged."""

    def __init__(self, stack, service: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.service = stack, service
        self.url = stack.url("collector", 4318, "/v1/traces")
        self.acknowledged: list[str] = []
        self.refused: dict[int, int] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                span_id = uuid.uuid4().bytes[:8]
                request = _request(self.service, _span(uuid.uuid4().bytes, span_id, "stream"))
                try:
                    response = client.post(
                        self.url, content=request.SerializeToString(), headers=PROTOBUF
                    )
                except httpx.HTTPError:
                    self.refused[0] = self.refused.get(0, 0) + 1
                    time.sleep(0.2)
                    # A restarted collector comes back on another ephemeral port.
                    result = self.stack.compose("port", "collector", "4318", check=False)
                    if result.returncode == 0 and result.stdout.strip():
                        self.url = f"http://{result.stdout.strip()}/v1/traces"
                    continue
                if response.status_code == 200:
                    self.acknowledged.append(span_id.hex())
                else:
                    self.refused[response.status_code] = (
                        self.refused.get(response.status_code, 0) + 1
                    )
                    if response.status_code in (429, 503):
                        assert response.headers.get("retry-after")
                        time.sleep(0.05)


@pytest.mark.parametrize("victim", ["storage", "collector"])
def test_killing_a_service_mid_stream_loses_no_acknowledged_span(stack, db, victim):
    service = f"kill-{victim}-{uuid.uuid4().hex[:8]}"
    sender = Sender(stack, service)
    sender.start()
    try:
        time.sleep(1.5)
        before_kill = len(sender.acknowledged)
        stack.compose("kill", "-s", "SIGKILL", victim)
        time.sleep(1.0)
        stack.compose("start", victim)
        stack.wait_healthy(victim)
        stack.wait_healthy("collector")
        time.sleep(1.5)
    finally:
        sender.stop.set()
        sender.join(timeout=30)

    assert before_kill > 0, "nothing was acknowledged before the kill"
    assert len(sender.acknowledged) > before_kill, "nothing was acknowledged after the restart"
    assert sender.refused, "the kill never showed: no export was refused"
    if victim == "storage":
        assert set(sender.refused) <= {503, 429}, sender.refused  # retryable, with Retry-After
    stored = {row["span_id"] for row in rows(db, service)}
    lost = [span_id for span_id in sender.acknowledged if span_id not in stored]
    assert not lost, f"{len(lost)} acknowledged spans are not in the database"


def test_the_schema_comes_back_when_the_database_loses_it(stack, db):
    """A database recreated under a running stack (a reset, a fresh volume) heals itself:
    exports are refused as retryable until maintenance re-applies the migrations."""
    from llm_observatory.storage import migrate

    migrate.downgrade(stack.database_url(), "base")
    assert db.execute("SELECT to_regclass('spans')").fetchone()[0] is None
    deadline = time.monotonic() + 60
    while db.execute("SELECT to_regclass('spans')").fetchone()[0] is None:
        assert time.monotonic() < deadline, "maintenance did not re-apply the migrations"
        time.sleep(0.5)
    _still_serving(stack.url("collector", 4318), db)  # 200, and the row is there
    assert migrate.current(stack.database_url()) is not None


@pytest.mark.parametrize("service", ["collector", "storage"])
def test_services_stop_gracefully_on_sigterm(stack, service):
    """`docker compose stop` must end the process itself, not leave Docker to SIGKILL it."""
    try:
        stack.compose("stop", service)
        container = stack.compose("ps", "--all", "-q", service).stdout.strip()
        inspected = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.ExitCode}}", container],
            capture_output=True,
            text=True,
            check=True,
        )
        assert inspected.stdout.strip() == "0", f"{service} exited {inspected.stdout.strip()}"
    finally:
        stack.compose("start", service)
        stack.wait_healthy(service)
        stack.wait_healthy("collector")


def _worker_pids(stack) -> list[str]:
    top = stack.compose("top", "collector").stdout.splitlines()
    return [line.split()[1] for line in top if "spawn_main" in line]


def test_collector_runs_worker_processes_and_restarts_whole_when_one_dies(stack):
    processes = int(stack.var("COLLECTOR_PROCESSES", "2"))
    assert processes > 1, "the stack should run several collector processes"
    workers = _worker_pids(stack)
    assert len(workers) == processes, workers
    metrics = httpx.get(stack.url("collector", 9090, "/metrics")).text
    capacity = float(re.search(r"^llmo_collector_queue_capacity (\S+)", metrics, re.M).group(1))
    assert capacity == processes * 10000  # MAX_QUEUE_SIZE, summed over the workers

    container = stack.compose("ps", "-q", "collector").stdout.strip()

    def restarts() -> int:
        return int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.RestartCount}}", container],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )

    before = restarts()
    # From inside the container: `top` shows host PIDs.
    kill_one_worker = (
        "import os, signal\n"
        "pids = [int(p) for p in os.listdir('/proc') if p.isdigit()\n"
        "        and int(p) != os.getpid()\n"
        "        and b'spawn_main' in open(f'/proc/{p}/cmdline', 'rb').read()]\n"
        "os.kill(max(pids), signal.SIGKILL)\n"
    )
    stack.exec("collector", "python", "-c", kill_one_worker)
    deadline = time.monotonic() + 60
    while restarts() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert restarts() > before, "a dead worker left the collector half-running"
    stack.wait_healthy("collector")
    assert len(_worker_pids(stack)) == processes
