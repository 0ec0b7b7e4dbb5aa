"""Monitoring against the running test stack: Prometheus scrapes every service and
evaluates the rules, an alert fires and resolves, every PromQL expression names
metrics the services really export, and every dashboard SQL query returns rows
from the real schema, rendered the way Grafana renders it (tests/support/grafana_sql.py).

Grafana itself cannot run here (no image); its queries run as the read-only role
its TimescaleDB data source uses.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.support import monitoring_config as config
from tests.support.compose_stack import Stack
from tests.support.grafana_sql import ALL, QueryContext, Variable, render
from tests.support.otlp_builders import make_llm_span_request
from tests.support.waiting import wait_for

SCRAPED_SERVICES = ("collector", "storage", "api", "maintenance")
EXPECTED_JOBS = {"prometheus", "alertmanager", *SCRAPED_SERVICES}
RO_USER = os.environ.get("DB_READONLY_USER", "llm_observatory_readonly")
RO_PASSWORD = os.environ.get("DB_READONLY_PASSWORD", "readonly_dev_password")


def prometheus(stack: Stack, path: str, **params) -> dict:
    response = httpx.get(stack.url("prometheus", 9090, path), params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


# ---------------------------------------------------------------------------
# Prometheus: targets, rules, metric names, PromQL syntax
# ---------------------------------------------------------------------------


def test_prometheus_scrapes_every_service(stack):
    def all_up():
        targets = prometheus(stack, "/api/v1/targets")["activeTargets"]
        health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
        return health if all(h == "up" for h, _ in health.values()) and health else None

    health = wait_for("every scrape target up", all_up, timeout=60)
    assert set(health) == EXPECTED_JOBS


def test_every_alert_rule_is_loaded_and_evaluates(stack):
    expected = {rule["alert"] for rule in config.rules()}

    def loaded():
        groups = prometheus(stack, "/api/v1/rules")["groups"]
        found = {rule["name"]: rule for group in groups for rule in group["rules"]}
        evaluated = set(found) >= expected and all(
            found[name]["health"] == "ok" for name in expected
        )
        return found if evaluated else None

    found = wait_for("rules loaded and evaluated", loaded, timeout=30)
    assert set(found) == expected


def _send_failed_llm_call(stack) -> None:
    """LLM calls, one of which failed: a labelled counter has no series before its first
    sample (the collector's workers export through prometheus' multiprocess mode)."""
    request = make_llm_span_request(4, spans_per_trace=1, service_name="metrics-errors")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.status.code = span.status.STATUS_CODE_ERROR
    span.attributes.add(key="error.type").value.string_value = "rate_limit_exceeded"
    _send(stack, request)


def _send(stack, request) -> None:
    """An OTLP/HTTP protobuf export to the stack's collector, accepted whole."""
    response = httpx.post(
        stack.url("collector", 4318, "/v1/traces"),
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def exported(stack) -> dict[str, set[str]]:
    """Series names on each running service's /metrics, as Prometheus scrapes them."""
    _send_failed_llm_call(stack)
    pages = {}
    for service in SCRAPED_SERVICES:
        response = httpx.get(stack.url(service, 9090, "/metrics"), timeout=10)
        response.raise_for_status()
        pages[service] = config.exported_metric_names(response.text)
    return pages


@pytest.mark.parametrize(
    "where, expr", config.all_promql(), ids=[w for w, _ in config.all_promql()]
)
def test_promql_names_only_exported_metrics(where, expr, exported):
    known = set().union(*exported.values()) | config.PROMETHEUS_SYNTHETIC
    names = config.promql_metric_names(expr)
    assert names, f"{where}: no metric found in {expr!r}"
    missing = sorted(names - known)
    assert not missing, f"{where}: {missing} are exported by none of {sorted(exported)}"


@pytest.mark.parametrize(
    "where, expr", config.all_promql(), ids=[w for w, _ in config.all_promql()]
)
def test_promql_is_valid_for_prometheus(stack, where, expr):
    response = httpx.get(
        stack.url("prometheus", 9090, "/api/v1/query"),
        params={"query": config.promql_for_prometheus(expr)},
        timeout=10,
    )
    assert response.status_code == 200, f"{where}: {response.text}"
    assert response.json()["status"] == "success"


def test_a_service_going_down_fires_an_alert_that_resolves(stack):
    """Stop the collector: LLMOTargetDown fires (for: 1m) and reaches Alertmanager;
    start it again: the alert resolves."""

    def firing(job: str) -> list[dict]:
        alerts = prometheus(stack, "/api/v1/alerts")["alerts"]
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == "LLMOTargetDown"
            and a["labels"]["job"] == job
            and a["state"] == "firing"
        ]

    assert not firing("collector"), "the collector is reported down before the test stops it"
    stack.compose("stop", "collector")
    try:
        alert = wait_for("LLMOTargetDown{job=collector} firing", lambda: firing("collector"), 120)
        assert alert[0]["labels"]["severity"] == "critical"

        def in_alertmanager():
            response = httpx.get(stack.url("alertmanager", 9093, "/api/v2/alerts"), timeout=10)
            response.raise_for_status()
            return [
                a
                for a in response.json()
                if a["labels"].get("alertname") == "LLMOTargetDown"
                and a["labels"].get("job") == "collector"
                and a["status"]["state"] == "active"
            ]

        wait_for("alert delivered to Alertmanager", in_alertmanager, 30)
    finally:
        stack.compose("start", "collector")
        stack.wait_healthy("collector", timeout=120)
    wait_for("LLMOTargetDown{job=collector} resolved", lambda: not firing("collector"), 60)


# ---------------------------------------------------------------------------
# Grafana's SQL: every dashboard query, rendered as Grafana does, returns rows
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(stack) -> list[str]:
    """Two services with LLM traces of the last 20 minutes, sent through the collector."""
    services = [f"grafana-{name}-{uuid.uuid4().hex[:8]}" for name in ("a", "b")]
    start = int((datetime.now(UTC) - timedelta(minutes=20)).timestamp() * 1e9)
    for index, service in enumerate(services):
        request = make_llm_span_request(
            40, spans_per_trace=4, service_name=service, seed=index, start_ns=start
        )
        _send(stack, request)
    return services


@pytest.fixture(scope="module")
def readonly_db(stack):
    """Connected as Grafana's TimescaleDB data source is: the read-only role."""
    port = stack.port("timescaledb", int(os.environ.get("DB_PORT", "5432")))
    name = os.environ.get("DB_NAME", "llm_observatory")
    url = f"postgresql://{RO_USER}:{RO_PASSWORD}@127.0.0.1:{port}/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def context() -> QueryContext:
    now = datetime.now(UTC)
    # Three hours: llm_usage_hourly's buckets start on the hour.
    return QueryContext(now - timedelta(hours=3), now + timedelta(minutes=5), interval_seconds=60)


def run(db, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = db.execute(sql)
    return [column.name for column in cursor.description], cursor.fetchall()


@pytest.fixture(scope="module")
def variables(readonly_db, seeded) -> dict[str, Variable]:
    """The LLM Overview's variables as a user leaves them: the two seeded services
    selected, provider and model on "All" (every option their queries return)."""
    board = config.dashboards()["llm-overview.json"]
    definitions = {v["name"]: v for v in board["templating"]["list"]}
    chosen = {"service": Variable("service", seeded, options=seeded)}
    for name in ("provider", "model"):
        sql = render(definitions[name]["query"], context(), chosen)
        _, rows = run(readonly_db, sql)
        options = [row[0] for row in rows]
        assert options, f"${name} has no options for services {seeded}"
        chosen[name] = Variable(name, [ALL], options=options)
    return chosen


def test_variable_queries_offer_only_what_the_filters_allow(readonly_db, seeded, variables):
    board = config.dashboards()["llm-overview.json"]
    service_query = next(v for v in board["templating"]["list"] if v["name"] == "service")
    _, rows = run(readonly_db, render(service_query["query"], context(), {}))
    assert set(seeded) <= {row[0] for row in rows}
    assert sorted(variables["provider"].options) == ["anthropic", "openai"]
    assert "gpt-4o-2024-08-06" in variables["model"].options


SQL_QUERIES = config.sql_queries()


@pytest.mark.parametrize("query", SQL_QUERIES, ids=[str(q) for q in SQL_QUERIES])
def test_dashboard_sql_runs_on_the_real_schema_and_returns_rows(query, readonly_db, variables):
    sql = render(query.target["rawSql"], context(), variables)
    columns, rows = run(readonly_db, sql)
    assert rows, f"{query} returned no rows:\n{sql}"
    if query.target.get("format") == "time_series":
        assert columns[0] == "time", f"{query}: a time series needs a first column named time"


def test_llm_overview_totals_are_filtered_to_the_selected_services(readonly_db, seeded, variables):
    board = config.dashboards()["llm-overview.json"]
    requests = next(p for p in config.panels(board) if p["title"] == "Requests")
    _, rows = run(readonly_db, render(requests["targets"][0]["rawSql"], context(), variables))
    _, expected = run(
        readonly_db,
        "SELECT count(*) FROM spans WHERE is_llm AND provider IS NOT NULL AND model IS NOT NULL"
        f" AND service_name IN ('{seeded[0]}', '{seeded[1]}')",
    )
    assert expected[0][0] > 0
    assert rows[0][0] == expected[0][0]
