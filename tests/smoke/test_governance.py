"""Cost governance and data rights against the running test stack.

Seeded demo data (cli/demo_data.py: users, conversations, traces with log records)
under services of this module: the CLI's dry run changes nothing and its deletion
removes exactly one user's rows and writes an audit row; an ordinary token gets 403
on DELETE /api/v1/data and an admin's request is carried out by maintenance; exports
hold as many rows as the database for each format, through the CLI and the API; an
overspend makes LLMOBudgetExceeded fire in the stack's Prometheus (the test stack's
budgets: tests/smoke/budgets.test.yml); 5,000 distinct models sent to the collector
add a bounded number of series to its /metrics.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest

from llm_observatory.api.auth import mint_token
from llm_observatory.cli import main as cli
from llm_observatory.cli.demo_data import DemoData
from llm_observatory.cli.seed import seed
from llm_observatory.core.settings import ApiSettings
from tests.support.otlp_builders import key_values, simple_span, span_request
from tests.support.waiting import wait_for

SUFFIX = f"-gov{uuid.uuid4().hex[:6]}"
TABLES = ("spans", "log_records", "metric_points")


@pytest.fixture(scope="module")
def seeded(stack) -> str:
    """Demo traces under this module's services (names ending in SUFFIX)."""
    data = DemoData(seed=23, days=2, service_suffix=SUFFIX, users=60)
    asyncio.run(seed(stack.database_url(), 1500, days=2, data=data))
    return SUFFIX


@pytest.fixture
def host_cli(stack, monkeypatch, capsys):
    def run(*argv: str) -> tuple[int, str, str]:
        with monkeypatch.context() as scoped:
            scoped.setenv("DATABASE_URL", stack.database_url())
            code = cli.run(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def totals(db) -> dict[str, int]:
    return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def spans_per_user(db) -> dict[str, int]:
    return dict(
        db.execute(
            "SELECT user_id, count(*) FROM spans WHERE user_id IS NOT NULL GROUP BY 1"
        ).fetchall()
    )


def user_of_this_module(db, rank: int) -> str:
    return db.execute(
        "SELECT user_id FROM spans WHERE service_name LIKE %s AND user_id IS NOT NULL "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 OFFSET %s LIMIT 1",
        (f"%{SUFFIX}", rank),
    ).fetchone()[0]


def rows_of_user(db, user: str) -> dict[str, int]:
    """What deleting `user` must remove, computed independently of storage/deletion.py."""
    traces = [
        r[0] for r in db.execute("SELECT DISTINCT trace_id FROM spans WHERE user_id = %s", (user,))
    ]
    spans = db.execute("SELECT count(*) FROM spans WHERE trace_id = ANY(%s)", (traces,)).fetchone()[
        0
    ]
    logs = db.execute(
        "SELECT count(*) FROM log_records WHERE trace_id = ANY(%s) "
        "OR attributes->>'user.id' = %s OR attributes->>'enduser.id' = %s",
        (traces, user, user),
    ).fetchone()[0]
    metrics = db.execute(
        "SELECT count(*) FROM metric_points WHERE attributes->>'user.id' = %s "
        "OR attributes->>'enduser.id' = %s",
        (user, user),
    ).fetchone()[0]
    return {"spans": spans, "log_records": logs, "metric_points": metrics}


def test_a_dry_run_changes_nothing_and_a_confirmed_deletion_removes_exactly_one_user(
    seeded, host_cli, db
):
    user = user_of_this_module(db, 0)
    expected = rows_of_user(db, user)
    assert expected["spans"] > 0 and expected["log_records"] > 0
    before, users_before = totals(db), spans_per_user(db)
    shared = dict(
        db.execute(
            "SELECT user_id, count(*) FROM spans WHERE user_id IS NOT NULL AND trace_id IN "
            "(SELECT trace_id FROM spans WHERE user_id = %s) GROUP BY 1",
            (user,),
        ).fetchall()
    )

    code, out, _ = host_cli("delete", "--user", user)
    assert code == 0, out
    assert "dry run: nothing was deleted" in out
    printed = {
        parts[0]: int(parts[1].replace(",", ""))
        for parts in (line.split() for line in out.splitlines())
        if len(parts) == 2 and parts[0] in TABLES
    }
    assert printed == expected
    assert totals(db) == before and spans_per_user(db) == users_before

    code, out, err = host_cli("delete", "--user", user, "--confirm", "--requested-by", "smoke")
    assert code == 0, out + err
    after = totals(db)
    assert {t: before[t] - after[t] for t in TABLES} == expected
    # Whole traces go: another user's spans in a trace the user appears in go with them
    # (other modules' demo data may share traces), everyone else's stay.
    left = {u: n - shared.get(u, 0) for u, n in users_before.items() if u != user}
    assert spans_per_user(db) == {u: n for u, n in left.items() if n}
    audit = db.execute(
        "SELECT requested_by, via, selector, status, rows_deleted FROM deletion_audit "
        "WHERE selector->>'user' = %s ORDER BY id DESC LIMIT 1",
        (user,),
    ).fetchone()
    assert audit == ("smoke", "cli", {"user": user}, "done", expected)


def test_the_api_refuses_ordinary_tokens_and_maintenance_carries_out_an_admins(stack, seeded, db):
    settings = ApiSettings()  # the stack runs the development JWT_SECRET
    user = user_of_this_module(db, 1)
    url = stack.url("api", 8080)
    ordinary = {"Authorization": f"Bearer {mint_token('gov-reader', 300, settings)}"}
    admin = {"Authorization": f"Bearer {mint_token('gov-admin', 300, settings, 'admin')}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.delete("/api/v1/data", params={"user": user}).status_code == 401
        refused = client.delete("/api/v1/data", params={"user": user}, headers=ordinary)
        assert refused.status_code == 403, refused.text
        assert client.get("/api/v1/data/deletions", headers=ordinary).status_code == 403
        expected = rows_of_user(db, user)
        before = totals(db)
        preview = client.delete(
            "/api/v1/data", params={"user": user, "dry_run": "true"}, headers=admin
        )
        assert preview.status_code == 200 and preview.json()["rows"] == expected
        assert totals(db) == before
        accepted = client.delete("/api/v1/data", params={"user": user}, headers=admin)
        assert accepted.status_code == 202, accepted.text
        request = accepted.json()
        assert request["status"] == "pending" and request["requested_by"] == "gov-admin"

        def done():
            answer = client.get(f"/api/v1/data/deletions/{request['id']}", headers=admin).json()
            return answer if answer["status"] in {"done", "failed", "refused"} else None

        finished = wait_for("maintenance carries out the request", done, timeout=60)
    assert finished["status"] == "done", finished
    assert finished["rows_deleted"] == expected
    assert rows_of_user(db, user) == dict.fromkeys(TABLES, 0)


def read_rows(path, fmt: str) -> int:
    if fmt == "jsonl":
        return len(path.read_bytes().splitlines())
    if fmt == "csv":
        return len(list(csv.reader(io.StringIO(path.read_text())))) - 1
    return pq.ParquetFile(path).metadata.num_rows


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_row_counts_match_the_database(seeded, host_cli, db, tmp_path, fmt):
    service = db.execute(
        "SELECT service_name FROM spans WHERE service_name LIKE %s "
        "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        (f"%{SUFFIX}",),
    ).fetchone()[0]
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    expected = db.execute(
        "SELECT count(*) FROM spans WHERE service_name = %s AND start_time >= %s", (service, start)
    ).fetchone()[0]
    out = tmp_path / f"spans.{fmt}"
    code, stdout, stderr = host_cli(
        "export", "--from", start, "--service", service, "--format", fmt, "--output", str(out)
    )
    assert code == 0, stdout + stderr
    assert read_rows(out, fmt) == expected > 0
    assert f"exported {expected:,} spans" in stdout and "rows/s" in stdout


def test_the_api_streams_the_same_export(stack, seeded, db):
    settings = ApiSettings()
    service = db.execute(
        "SELECT service_name FROM spans WHERE service_name LIKE %s GROUP BY 1 LIMIT 1",
        (f"%{SUFFIX}",),
    ).fetchone()[0]
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    expected = db.execute(
        "SELECT count(*) FROM spans WHERE service_name = %s AND start_time >= %s", (service, start)
    ).fetchone()[0]
    headers = {"Authorization": f"Bearer {mint_token('gov-export', 300, settings)}"}
    with httpx.stream(
        "GET",
        stack.url("api", 8080, "/api/v1/export"),
        params={"from": start, "service": service},
        headers=headers,
        timeout=60,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = sum(chunk.count(b"\n") for chunk in response.iter_bytes())
    assert lines == expected > 0


def prometheus_alerts(stack) -> list[dict]:
    response = httpx.get(stack.url("prometheus", 9090, "/api/v1/alerts"), timeout=10)
    response.raise_for_status()
    return response.json()["data"]["alerts"]


def test_an_overspend_makes_the_budget_alert_fire(stack, db):
    """tests/smoke/budgets.test.yml: 1 USD a month for service budget-smoke."""
    trace = uuid.uuid4().hex
    db.execute(
        "INSERT INTO spans (start_time, end_time, duration_ms, trace_id, span_id, service_name, "
        "name, kind, is_llm, provider, model, cost_usd) VALUES "
        "(now(), now(), 1, %s, 'a', 'budget-smoke', 'chat', 'client', true, 'openai', 'gpt-4o', "
        "0.8), (now(), now(), 1, %s, 'b', 'budget-smoke', 'chat', 'client', true, 'openai', "
        "'gpt-4o', 0.8)",
        (trace, trace),
    )
    try:

        def firing():
            return [
                a
                for a in prometheus_alerts(stack)
                if a["labels"]["alertname"] == "LLMOBudgetExceeded"
                and a["labels"].get("budget") == "smoke-overspend"
                and a["state"] == "firing"
            ]

        alert = wait_for("LLMOBudgetExceeded{budget=smoke-overspend} firing", firing, 180, 2)
        assert alert[0]["labels"]["severity"] == "critical"
        assert alert[0]["labels"]["category"] == "llm"
        assert float(alert[0]["value"]) >= 1.6
        token = mint_token("gov-budgets", 300, ApiSettings())
        answer = httpx.get(
            stack.url("api", 8080, "/api/v1/budgets"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        budget = {b["name"]: b for b in answer["items"]}["smoke-overspend"]
        assert budget["spend_usd"] >= 1.6 and budget["used"] >= 1.6
        assert budget["scope"] == "service" and budget["scope_value"] == "budget-smoke"
    finally:
        db.execute("DELETE FROM spans WHERE trace_id = %s", (trace,))


def llm_series(stack) -> set[str]:
    page = httpx.get(stack.url("collector", 9090, "/metrics"), timeout=10).text
    return {line.rsplit(" ", 1)[0] for line in page.splitlines() if line.startswith("llmo_llm_")}


def test_five_thousand_models_add_a_bounded_number_of_series(stack):
    service = f"label-bound{SUFFIX}"
    before = llm_series(stack)
    base = time.time_ns() - 60 * 10**9
    for batch in range(10):  # 10 requests of 500 spans
        spans = []
        for i in range(batch * 500, (batch + 1) * 500):
            span = simple_span(
                f"chat model-{i}",
                trace_id=uuid.uuid4().bytes,
                span_id=(i + 1).to_bytes(8, "big"),
                start_time_unix_nano=base + i,
                end_time_unix_nano=base + i + 10**9,
            )
            span.attributes.extend(
                key_values(
                    {
                        "gen_ai.operation.name": "chat",
                        "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": f"bounded-model-{i}",
                        "gen_ai.usage.input_tokens": 10,
                        "gen_ai.usage.output_tokens": 5,
                    }
                )
            )
            spans.append(span)
        body = span_request(*spans, service_name=service).SerializeToString()

        def sent(body=body):
            response = httpx.post(
                stack.url("collector", 4318, "/v1/traces"),
                content=body,
                headers={"content-type": "application/x-protobuf"},
                timeout=60,
            )
            # 429 / 503 are OTLP's "retry later" (a busy machine); anything else is final.
            if response.status_code in {429, 503}:
                return None
            assert response.status_code == 200, response.text
            return response

        wait_for("the collector takes the batch", sent, 60, 2)

    def counted():
        new = llm_series(stack) - before
        return new if any(f'service="{service}"' in s for s in new) else None

    new = wait_for("the 5,000 calls counted", counted, 30)
    assert not any("bounded-model-" in series for series in new)
    # requests and two token types per process for the one service, and the latency
    # histogram of (openai, other): a few dozen, where a label per model would be 35,000.
    processes = int(os.environ.get("COLLECTOR_PROCESSES", "2"))
    assert len(new) <= processes * (3 + 14), sorted(new)
