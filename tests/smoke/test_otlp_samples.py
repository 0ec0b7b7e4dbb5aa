"""examples/otlp: each sample lands with the rows its README says, sent as it says.

The `curl` lines of examples/otlp/README.md are run as written (only the collector's
address changes to the test stack's); what each file should produce is read from the
file itself, so a sample edited without its rows changing (or the other way round)
fails here. The exact numbers (tokens, prices) are the sample's own.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from tests.support.compose_stack import ROOT

SAMPLES = ROOT / "examples" / "otlp"
README = SAMPLES / "README.md"
DOCUMENTED_ENDPOINT = "http://localhost:4318"
SERVICE = "support-bot"


def _sender():
    spec = importlib.util.spec_from_file_location("otlp_sample_sender", SAMPLES / "send.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


send = _sender()


def sample(name: str, now_ns: int = 0) -> dict:
    """A sample file as the collector receives it (placeholders filled in)."""
    return json.loads(send.render(name, now_ns or time.time_ns()))


def spans_of(request: dict) -> list[dict]:
    return [
        {**span, "scope": scope["scope"]["name"]}
        for resource in request["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def attribute(item: dict, key: str):
    for kv in item.get("attributes", []):
        if kv["key"] == key:
            ((kind, value),) = kv["value"].items()
            return int(value) if kind == "intValue" else value
    return None


def curl_lines() -> dict[str, str]:
    """The README's curl command per OTLP path (/v1/traces, ...)."""
    lines = [line for line in README.read_text().splitlines() if "| curl " in line]
    found = {re.search(r"/v1/\w+", line).group(0): line for line in lines}
    assert set(found) == set(send.SIGNALS.values()), f"README's curl lines: {lines}"
    return found


def run_documented(command: str, endpoint: str) -> str:
    assert DOCUMENTED_ENDPOINT in command
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.replace(DOCUMENTED_ENDPOINT, endpoint)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def fetch(db, sql: str, *params) -> list[dict]:
    cur = db.execute(sql, params)
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture(scope="module")
def documented(stack) -> dict[str, tuple[float, float]]:
    """Each README curl line run once; per path, the wall-clock window it ran in."""
    endpoint = stack.url("collector", 4318)
    windows = {}
    for path, command in curl_lines().items():
        before = time.time()
        answer = json.loads(run_documented(command, endpoint))
        windows[path] = (before, time.time())
        # {} is a full success; a partialSuccess would name what was refused.
        assert answer == {}, f"{path}: {answer}"
    return windows


def expected_cost(model: str, usage: Usage) -> Decimal:
    return Decimal(str(calc_price(usage, model, provider_id="openai").total_price))


# --------------------------------------------------------------------------- traces


def test_the_trace_lands_span_for_span(documented, db):
    spans = spans_of(sample("traces.json"))
    [trace_id] = {s["traceId"] for s in spans}
    rows = {r["span_id"]: r for r in fetch(db, "SELECT * FROM spans WHERE trace_id = %s", trace_id)}
    assert set(rows) == {s["spanId"] for s in spans}
    for span in spans:
        row = rows[span["spanId"]]
        assert (row["name"], row["service_name"], row["scope_name"]) == (
            span["name"],
            SERVICE,
            span["scope"],
        )
        assert row["parent_span_id"] == span.get("parentSpanId")
    # Placeholders are relative to the moment of sending: the trace is recent and keeps
    # the durations the file gives.
    sent_at = documented["/v1/traces"][1]
    [root] = [r for r in rows.values() if r["parent_span_id"] is None]
    assert root["name"] == "POST /v1/support/chat" and root["kind"] == "server"
    assert 0 < sent_at - root["end_time"].timestamp() < 60
    assert root["duration_ms"] == pytest.approx(8800)


def test_llm_calls_have_model_provider_tokens_cost_and_messages(documented, db):
    spans = {s["spanId"]: s for s in spans_of(sample("traces.json"))}
    [trace_id] = {s["traceId"] for s in spans.values()}
    rows = fetch(db, "SELECT * FROM spans WHERE trace_id = %s ORDER BY start_time", trace_id)
    llm = [r for r in rows if r["is_llm"]]
    # The embedding and the two chats; not the agent, the tool or the retrieval.
    assert [r["operation"] for r in llm] == ["embeddings", "chat", "chat"]
    assert {r["operation"] for r in rows if not r["is_llm"] and r["operation"]} == {
        "invoke_agent",
        "retrieval",
        "execute_tool",
    }
    for row in llm:
        span = spans[row["span_id"]]
        assert row["provider"] == attribute(span, "gen_ai.provider.name") == "openai"
        assert row["request_model"] == attribute(span, "gen_ai.request.model")
        assert row["model"] == attribute(span, "gen_ai.response.model")
        assert row["input_tokens"] == attribute(span, "gen_ai.usage.input_tokens")
        assert row["output_tokens"] == attribute(span, "gen_ai.usage.output_tokens")
        cached = attribute(span, "gen_ai.usage.cache_read.input_tokens")
        assert row["cache_read_tokens"] == cached
        usage = Usage(
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"] or 0,
            cache_read_tokens=cached or 0,
        )
        assert row["cost_usd"] > 0
        assert row["cost_usd"] == pytest.approx(
            expected_cost(row["model"], usage), abs=Decimal("1e-9")
        )

    # The agent repeats the usage of its calls; only the calls are counted.
    agent = next(r for r in rows if r["operation"] == "invoke_agent")
    assert attribute(spans[agent["span_id"]], "gen_ai.usage.input_tokens") == 1717
    assert agent["input_tokens"] is None and agent["cost_usd"] is None
    assert sum(r["input_tokens"] or 0 for r in rows) == 14 + 812 + 905

    first, second = llm[1], llm[2]
    for row in (first, second):
        assert (row["conversation_id"], row["user_id"]) == ("conv_7Hq2mX9d", "user-1042")
        assert row["input_messages"][0]["role"] == "system"  # gen_ai.system_instructions
        assert row["input_messages"][2]["parts"][0]["content"].startswith(
            "Hi! Where is my order A-1042?"
        )
        # The address in the user's message is redacted before anything is stored.
        assert row["pii_types"] == ["email"]
        assert "jane.doe@example.com" not in json.dumps(row["input_messages"])
        assert "[REDACTED:email]" in row["input_messages"][2]["parts"][0]["content"]
        # Moved into the message columns, not stored twice.
        assert "gen_ai.input.messages" not in row["attributes"]
    [call] = first["output_messages"][0]["parts"]
    assert (call["type"], call["name"], call["arguments"]) == (
        "tool_call",
        "get_order_status",
        {"order_id": "A-1042"},
    )
    assert second["input_messages"][-1]["parts"][0]["type"] == "tool_call_response"
    assert second["input_messages"][-1]["parts"][0]["id"] == call["id"]
    assert second["output_messages"][0]["finish_reason"] == "stop"
    assert "DHL" in second["output_messages"][0]["parts"][0]["content"]


# -------------------------------------------------------------------------- metrics


def metric_points(request: dict) -> list[dict]:
    points = []
    for resource in request["resourceMetrics"]:
        for scope in resource["scopeMetrics"]:
            for metric in scope["metrics"]:
                ((kind, data),) = (
                    (k, v) for k, v in metric.items() if k in {"histogram", "sum", "gauge"}
                )
                for point in data["dataPoints"]:
                    points.append({"metric": metric, "type": kind, "data": data, **point})
    return points


def sent_between(documented, path: str, offset: float) -> tuple[float, float]:
    """When a row written `offset` seconds before its file was rendered can lie: the
    file was rendered while its curl line ran (a millisecond of slack for rounding)."""
    start, end = documented[path]
    return start - offset - 0.001, end - offset + 0.001


def test_every_metric_point_lands(documented, db):
    # Every point of the file is stamped {{now-0.100s}}.
    rows = fetch(
        db,
        "SELECT * FROM metric_points WHERE service_name = %s"
        " AND time BETWEEN to_timestamp(%s) AND to_timestamp(%s)",
        SERVICE,
        *sent_between(documented, "/v1/metrics", 0.1),
    )
    points = metric_points(sample("metrics.json"))
    assert len(rows) == len(points) == 7

    def key(name, attributes):
        return name, json.dumps(attributes, sort_keys=True)

    by_key = {key(r["metric_name"], r["attributes"]): r for r in rows}
    for point in points:
        attributes = {kv["key"]: next(iter(kv["value"].values())) for kv in point["attributes"]}
        row = by_key[key(point["metric"]["name"], attributes)]
        assert (row["metric_type"], row["unit"]) == (point["type"], point["metric"]["unit"])
        if point["type"] == "histogram":
            assert row["count"] == int(point["count"])
            assert row["sum"] == pytest.approx(point["sum"])
            assert (row["min"], row["max"]) == (point["min"], point["max"])
            assert row["buckets"] == {
                "bounds": point["explicitBounds"],
                "counts": [int(c) for c in point["bucketCounts"]],
            }
            assert row["aggregation_temporality"] == "cumulative"
        else:
            assert row["value"] == float(point["asInt"])
        if point["type"] == "sum":
            assert row["is_monotonic"] is True

    usage = {
        r["attributes"]["gen_ai.token.type"]: r["sum"]
        for r in rows
        if r["metric_name"] == "gen_ai.client.token.usage"
        and r["attributes"]["gen_ai.request.model"] == "gpt-4o-mini"
    }
    # The histograms agree with the trace's two chat calls.
    assert usage == {"input": 812 + 905, "output": 38 + 64}


# ----------------------------------------------------------------------------- logs


def log_records(request: dict) -> list[dict]:
    return [
        record
        for resource in request["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]


def test_log_records_land_correlated_to_the_spans(documented, db):
    records = log_records(sample("logs.json"))
    [trace_id] = {r["traceId"] for r in records if "traceId" in r}
    # The one record outside the trace is stamped {{now-600.000s}}.
    rows = fetch(
        db,
        "SELECT * FROM log_records WHERE service_name = %s AND (trace_id = %s"
        " OR trace_id IS NULL AND time BETWEEN to_timestamp(%s) AND to_timestamp(%s))",
        SERVICE,
        trace_id,
        *sent_between(documented, "/v1/logs", 600),
    )
    assert len(rows) == len(records) == 6
    assert sorted((r["severity_number"], r["severity_text"]) for r in rows) == sorted(
        (r["severityNumber"], r["severityText"]) for r in records
    )
    assert {r["severity_text"] for r in rows} == {"DEBUG", "INFO", "WARN", "ERROR"}

    correlated = [r for r in rows if r["trace_id"]]
    assert sorted(str(r["span_id"]) for r in correlated) == sorted(
        r["spanId"] for r in records if "spanId" in r
    )
    # Every correlated record finds the span it was written in.
    joined = fetch(
        db,
        "SELECT l.severity_text, s.name FROM log_records l"
        " JOIN spans s ON s.trace_id = l.trace_id AND s.span_id = l.span_id"
        " WHERE l.trace_id = %s",
        trace_id,
    )
    assert len(joined) == len(correlated) == 5
    assert ("WARN", "GET") in {(j["severity_text"], j["name"]) for j in joined}

    [structured] = [r for r in rows if isinstance(r["body"], dict)]
    assert structured["body"]["message"] == "agent run finished"
    assert structured["body"]["input_tokens"] == 1731
    assert structured["event_name"] == "support_bot.agent.run_finished"


# --------------------------------------------------------------------------- sender


def test_each_run_of_the_sender_is_a_trace_of_its_own(stack, db):
    literal = {s["traceId"] for s in spans_of(sample("traces.json"))}
    result = subprocess.run(
        [sys.executable, str(SAMPLES / "send.py"), "--endpoint", stack.url("collector", 4318)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": 200 {}") == 3, result.stdout
    [trace_id] = re.findall(r"^trace_id (\w{32})$", result.stdout, re.M)
    assert trace_id not in literal

    spans = fetch(db, "SELECT span_id, parent_span_id FROM spans WHERE trace_id = %s", trace_id)
    assert len(spans) == 9
    ids = {s["span_id"] for s in spans}
    assert not ids & {s["spanId"] for s in spans_of(sample("traces.json"))}
    assert {s["parent_span_id"] for s in spans} - {None} <= ids  # the tree holds together
    # The logs of the run point at the run's spans.
    logs = fetch(db, "SELECT span_id FROM log_records WHERE trace_id = %s", trace_id)
    assert len(logs) == 5 and {r["span_id"] for r in logs} <= ids
