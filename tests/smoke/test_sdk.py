"""llm_observatory.sdk against the running test stack: spans land with model, tokens, cost.

configure() exports, shutdown() flushes, and the collector acknowledges an export only
after storage commits it, so the rows are read right after shutdown, without polling.
The documented example runs from a fresh virtual environment where pip installed the
SDK's wheel alone (packages/llm-observatory-sdk), so it works without the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from llm_observatory.sdk import agent, configure, llm_call, tool_call
from tests.support.sdk_dependencies import SERVER_ONLY, locked_closure

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = "claude-3-5-sonnet-20241022"
SDK_PROJECT = Path(ROOT) / "packages" / "llm-observatory-sdk"


@pytest.fixture(scope="module")
def sdk_alone(tmp_path_factory) -> tuple[Path, Path]:
    """(python, wheel): a fresh virtual environment with only the SDK's wheel, by pip."""
    work = tmp_path_factory.mktemp("sdk-alone")
    built = subprocess.run(
        ["uv", "build", "--wheel", str(SDK_PROJECT), "--out-dir", str(work / "dist")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (work / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=120)
    python = work / "venv" / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    return python, wheel


def test_the_sdk_installs_alone_without_the_server(sdk_alone):
    python, wheel = sdk_alone
    files = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in files} == {
        "llm_observatory",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    assert all(name.startswith("llm_observatory/sdk/") for name in files if "dist-info" not in name)
    frozen = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {line.split("==")[0].lower().replace("_", "-") for line in frozen.splitlines()}
    assert "opentelemetry-sdk" in names and "llm-observatory-sdk" in names
    assert names & SERVER_ONLY == set()
    # What pip chose is what the lock says the SDK needs (tests/unit/test_sdk_distribution.py
    # checks that set), plus pip itself.
    extra = (
        names - {"pip", "setuptools", "llm-observatory-sdk"} - locked_closure("llm-observatory-sdk")
    )
    assert extra == set()


def rows(db, service: str) -> list[dict]:
    cur = db.execute(
        "SELECT * FROM spans WHERE service_name = %s ORDER BY start_time, name", (service,)
    )
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def anthropic_cost(input_tokens: int, output_tokens: int, cache_read: int) -> Decimal:
    usage = Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read
    )
    price = calc_price(usage, MODEL, provider_id="anthropic")
    return Decimal(str(price.total_price))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_llm_call_lands_with_model_tokens_and_cost(stack, db, protocol):
    service = f"sdk-{protocol}-{uuid.uuid4().hex[:8]}"
    port = stack.port("collector", 4317 if protocol == "grpc" else 4318)
    telemetry = configure(
        service_name=service,
        endpoint=f"127.0.0.1:{port}",
        protocol=protocol,
        set_global=False,
    )
    provider = telemetry.tracer_provider
    with (
        agent("support-agent", tracer_provider=provider),
        llm_call(
            provider="anthropic",
            model="claude-3-5-sonnet",
            input_messages="Where is my order?",
            capture_content=True,
            tracer_provider=provider,
            meter_provider=telemetry.meter_provider,
        ) as call,
    ):
        call.set_usage(input_tokens=1200, output_tokens=80, cache_read_tokens=1000)
        call.set_response(model=MODEL, id="msg_01", finish_reasons=["end_turn"])
    telemetry.shutdown()

    root, chat = rows(db, service)
    assert root["name"] == "invoke_agent support-agent" and root["is_llm"] is False
    assert chat["parent_span_id"] == root["span_id"]
    assert chat["name"] == "chat claude-3-5-sonnet"
    assert chat["kind"] == "client"
    assert chat["is_llm"] is True
    assert (chat["provider"], chat["operation"]) == ("anthropic", "chat")
    assert (chat["request_model"], chat["model"]) == ("claude-3-5-sonnet", MODEL)
    assert (chat["input_tokens"], chat["output_tokens"], chat["total_tokens"]) == (1200, 80, 1280)
    assert chat["cache_read_tokens"] == 1000
    assert chat["cost_usd"] == pytest.approx(anthropic_cost(1200, 80, 1000))
    assert chat["cost_usd"] > 0
    assert chat["attributes"]["gen_ai.response.id"] == "msg_01"
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert chat["input_messages"][0]["parts"][0]["content"] == "Where is my order?"
    # The GenAI metrics llm_call records went out with the spans.
    metrics = db.execute(
        "SELECT DISTINCT metric_name FROM metric_points WHERE service_name = %s ORDER BY 1",
        (service,),
    ).fetchall()
    assert [name for (name,) in metrics] == [
        "gen_ai.client.operation.duration",
        "gen_ai.client.token.usage",
    ]


def test_a_failed_call_lands_with_error_status_and_type(stack, db):
    service = f"sdk-error-{uuid.uuid4().hex[:8]}"
    telemetry = configure(
        service_name=service,
        endpoint=f"http://127.0.0.1:{stack.port('collector', 4317)}",
        set_global=False,
    )

    class OverloadedError(Exception):
        pass

    with (
        pytest.raises(OverloadedError),
        llm_call(provider="anthropic", model=MODEL, tracer_provider=telemetry.tracer_provider),
    ):
        raise OverloadedError("529: overloaded")
    with tool_call("lookup", tracer_provider=telemetry.tracer_provider):
        pass
    telemetry.shutdown()

    failed, tool = rows(db, service)
    assert failed["status_code"] == "error"
    assert failed["status_message"] == "529: overloaded"
    assert failed["attributes"]["error.type"] == "OverloadedError"
    assert failed["cost_usd"] is None  # no usage, no made-up cost
    assert tool["name"] == "execute_tool lookup"
    assert (tool["operation"], tool["is_llm"], tool["status_code"]) == (
        "execute_tool",
        False,
        "unset",
    )


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_the_documented_example_runs_as_written(stack, db, protocol, sdk_alone):
    """examples/sdk_quickstart.py, configured only by the standard OTEL_* variables, run
    where only the SDK is installed."""
    service = f"quickstart-{uuid.uuid4().hex[:8]}"
    port = stack.port("collector", 4317 if protocol == "grpc" else 4318)
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        # The example names its service; OTEL_RESOURCE_ATTRIBUTES adds to it.
        "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment.name={service}",
    }
    result = subprocess.run(
        [str(sdk_alone[0]), "examples/sdk_quickstart.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    trace_id = result.stdout.split()[2]
    found = db.execute(
        "SELECT name, parent_span_id IS NULL, model, input_tokens, cost_usd > 0 FROM spans"
        " WHERE trace_id = %s AND service_name = 'sdk-quickstart'"
        " AND resource_attributes->>'deployment.environment.name' = %s ORDER BY name",
        (trace_id, service),
    ).fetchall()
    assert found == [
        ("chat claude-3-5-sonnet-20241022", False, MODEL, 1200, True),
        ("execute_tool get_order_status", False, None, None, None),
        ("invoke_agent support-agent", True, None, None, None),
    ]
