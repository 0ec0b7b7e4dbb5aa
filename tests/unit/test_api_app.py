"""The API application in-process, with a fake database and a fake Redis.

What needs no real server: the guard (401, 429, per-client budgets), Redis being down
(no limit, no cache, no waiting), the usage cache, /health, GraphQL switches, request
metrics, and the SQL the queries compose. The smoke tests run the same against the
real stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.testclient import TestClient

from llm_observatory.api.app import create_app
from llm_observatory.api.auth import mint_token
from llm_observatory.api.cache import QueryCache
from llm_observatory.api.params import TraceQuery, UsageQuery
from llm_observatory.api.queries.trace_list import trace_list_sql
from llm_observatory.api.queries.usage import usage_sql
from llm_observatory.api.ratelimit import RateLimiter
from llm_observatory.api.redis_gate import RedisGate
from llm_observatory.api.state import ApiState
from llm_observatory.core.settings import ApiSettings

SECRET = "unit-test-secret-" * 4


class FakeRedis:
    """The few commands the API uses, in memory; `broken` makes every call fail."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.calls = 0
        self.broken = False

    def _touch(self) -> None:
        self.calls += 1
        if self.broken:
            raise RedisConnectionError("fake redis is down")

    async def get(self, key):
        self._touch()
        return self.data.get(key)

    async def set(self, key, value, ex=None):
        self._touch()
        self.data[key] = value

    async def ping(self):
        self._touch()
        return True

    def pipeline(self, transaction=False):
        return FakePipeline(self)

    async def aclose(self):
        pass


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.ops: list[tuple] = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def incr(self, key):
        self.ops.append(("incr", key))

    def expire(self, key, seconds, nx=False):
        self.ops.append(("expire", key))

    async def execute(self):
        self.redis._touch()
        results = []
        for op, key in self.ops:
            if op == "incr":
                self.redis.data[key] = int(self.redis.data.get(key, 0)) + 1
                results.append(self.redis.data[key])
            else:
                results.append(True)
        return results


class FakeDatabase:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.rows: list[dict] = []
        self.down = False

    async def open(self):
        pass

    async def close(self):
        pass

    async def fetch_all(self, query, params=None):
        self.calls.append((query, params))
        if self.down:
            raise psycopg.OperationalError("fake database is down")
        return [dict(row) for row in self.rows]

    async def fetch_many(self, statements):
        return [await self.fetch_all(query, params) for query, params in statements]

    async def check(self):
        if self.down:
            raise ConnectionRefusedError("fake database is down")


USAGE_ROW = {
    "bucket": datetime(2025, 1, 1, tzinfo=UTC),
    "key": "gpt-4o",
    "requests": 3,
    "input_tokens": Decimal(30),
    "output_tokens": Decimal(6),
    "cost_usd": Decimal("0.001500000"),
    "error_rate": 1 / 3,
    "p50_latency_ms": 120.0,
    "p95_latency_ms": 300.0,
}


def make_api(**overrides):
    settings = ApiSettings(**{"jwt_secret": SECRET, "rate_limit_requests": 3, **overrides})
    gate = RedisGate(settings)
    fake_redis = FakeRedis()
    gate.client = fake_redis
    db = FakeDatabase()
    state = ApiState(
        settings=settings,
        database=db,  # type: ignore[arg-type]
        redis=gate,
        cache=QueryCache(gate, settings.cache_ttl),
        limiter=RateLimiter(gate, settings.rate_limit_requests, settings.rate_limit_window),
    )
    client = TestClient(create_app(settings, state))
    return client, settings, db, fake_redis


def bearer(settings: ApiSettings, subject: str = "unit") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(subject, 60, settings)}"}


def test_missing_token_is_401_with_a_bearer_challenge():
    client, *_ = make_api()
    response = client.get("/api/v1/models")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="llm-observatory"'


def test_rate_limit_429_after_the_limit_with_retry_after():
    client, settings, *_ = make_api()
    headers = bearer(settings, "alice")
    statuses = [client.get("/api/v1/models", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/api/v1/models", headers=headers)
    assert 1 <= int(refused.headers["Retry-After"]) <= settings.rate_limit_window + 1
    # Another client has its own budget.
    assert client.get("/api/v1/models", headers=bearer(settings, "bob")).status_code == 200


def test_callers_without_a_valid_token_are_limited_by_address():
    client, *_ = make_api()
    bad = {"Authorization": "Bearer nope"}
    statuses = [client.get("/api/v1/models", headers=bad).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_redis_down_means_no_limit_no_cache_and_no_waiting():
    client, settings, db, fake_redis = make_api()
    fake_redis.broken = True
    db.rows = [USAGE_ROW]
    headers = bearer(settings)
    params = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"}
    statuses = [
        client.get("/api/v1/usage", headers=headers, params=params).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5  # over the limit of 3, but nothing counts without Redis
    assert len(db.calls) == 5  # uncached
    # The first failure shut the gate: later requests did not try Redis again.
    assert fake_redis.calls == 1


def test_usage_answers_are_cached_by_normalised_parameters():
    client, settings, db, fake_redis = make_api(rate_limit_requests=100)
    db.rows = [USAGE_ROW]
    headers = bearer(settings)
    window = {"from": "2025-01-01T00:00:00Z", "to": "2025-01-02T00:00:00Z"}
    first = client.get("/api/v1/usage", headers=headers, params=window)
    # The same instants written another way hit the same entry.
    same = {"from": "2025-01-01T01:00:00+01:00", "to": "2025-01-02T00:00:00"}
    second = client.get("/api/v1/usage", headers=headers, params=same)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert len(db.calls) == 1
    assert first.json()["items"] == [
        {
            "bucket": "2025-01-01T00:00:00Z",
            "key": "gpt-4o",
            "requests": 3,
            "input_tokens": 30,
            "output_tokens": 6,
            "cost_usd": 0.0015,
            "error_rate": pytest.approx(1 / 3),
            "p50_latency_ms": 120.0,
            "p95_latency_ms": 300.0,
        }
    ]
    assert len([k for k in fake_redis.data if k.startswith("llmo:cache:usage")]) == 1
    # Another grouping is another question.
    client.get("/api/v1/usage", headers=headers, params={"group_by": "provider", **window})
    assert len(db.calls) == 2


def test_health_names_what_is_down():
    client, _, db, fake_redis = make_api()
    assert client.get("/health").json() == {"status": "ok", "database": "ok", "redis": "ok"}
    fake_redis.broken = True
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert set(body) == {"status", "database", "redis"}
    assert (body["status"], body["database"]) == ("degraded", "ok")
    assert body["redis"] == "down"  # the reason goes to the log, not to an open endpoint
    db.down = True
    assert client.get("/health").json()["database"] == "down"


def test_graphiql_page_only_with_the_playground_on():
    html = {"Accept": "text/html"}
    on, *_ = make_api(graphql_playground=True)
    page = on.get("/graphql", headers=html)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    off, settings, *_ = make_api(graphql_playground=False)
    assert off.get("/graphql", headers=html).status_code == 401
    assert off.get("/graphql", headers={**html, **bearer(settings)}).status_code == 404
    # Queries still work with the playground off.
    answer = off.post("/graphql", headers=bearer(settings), json={"query": "{ models { model } }"})
    assert answer.json() == {"data": {"models": []}}


def test_graphql_can_be_disabled():
    client, settings, *_ = make_api(graphql_enabled=False)
    query = {"query": "{ models { model } }"}
    response = client.post("/graphql", headers=bearer(settings), json=query)
    assert response.status_code == 404


def test_validation_errors_name_the_parameter_in_a_message():
    client, settings, *_ = make_api(rate_limit_requests=100)
    headers = bearer(settings)
    for path, params, name in [
        ("/api/v1/usage", {"interval": "5m"}, "interval"),
        ("/api/v1/usage", {"group_by": "color"}, "group_by"),
        ("/api/v1/traces", {"limit": "0"}, "limit"),
        ("/api/v1/traces", {"from": "yesterday"}, "from"),
        ("/api/v1/traces", {"cursor": "???"}, "cursor"),
    ]:
        response = client.get(path, headers=headers, params=params)
        assert response.status_code == 422, (path, params)
        assert response.json()["message"].startswith(f"{name}: "), response.json()


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_request_metrics_use_the_route_template():
    client, settings, *_ = make_api()
    labels = {"route": "/api/v1/traces/{trace_id}", "method": "GET", "status": "404"}
    before = _sample("llmo_api_requests_total", **labels)
    assert client.get("/api/v1/traces/abc123", headers=bearer(settings)).status_code == 404
    assert _sample("llmo_api_requests_total", **labels) == before + 1
    assert _sample("llmo_api_request_duration_seconds_count", **labels) == before + 1
    # An unknown path is one series, whatever the path.
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    before = _sample("llmo_api_requests_total", **unmatched)
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    assert _sample("llmo_api_requests_total", **unmatched) == before + 2


def test_database_outage_is_503_with_retry_after():
    client, settings, db, _ = make_api()
    db.down = True
    response = client.get("/api/v1/traces", headers=bearer(settings))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "fake database" not in response.text  # the cause is logged, not shown


HOSTILE = "x'); DROP TABLE spans; --"


def test_trace_filters_travel_as_parameters_never_as_sql():
    query = TraceQuery.parse(
        {"service": HOSTILE, "provider": HOSTILE, "model": HOSTILE, "status": "error"}
    )
    statement, params = trace_list_sql(query)
    text = statement.as_string()
    assert "DROP TABLE" not in text
    assert params["service"] == params["provider"] == params["model"] == HOSTILE
    assert "%(service)s" in text and "%(provider)s" in text and "%(model)s" in text


@pytest.mark.parametrize(
    ("group_by", "column"),
    [("model", '"model"'), ("provider", '"provider"'), ("service", '"service_name"')],
)
def test_usage_groups_by_a_whitelisted_column(group_by, column):
    statement, params = usage_sql(
        UsageQuery.parse(group_by, "1h", datetime(2025, 1, 1), datetime(2025, 1, 2))
    )
    assert f"{column} AS key" in statement.as_string()
    # A whole day: read from the rollups of its hours, bounded by parameters.
    assert set(params) == {"width", "hours_from", "hours_to", "limit"}


def test_production_refuses_development_secrets_at_start_up():
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"JWT_SECRET", "DATABASE_URL", "REDIS_URL"}
    }
    env["ENVIRONMENT"] = "production"
    result = subprocess.run(
        [sys.executable, "-m", "llm_observatory.api.main"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "JWT_SECRET" in result.stderr


# --- the explorer's endpoints ---------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/traces/abc", "/api/v1/sessions/conv-1", "/api/v1/users/user-1"]
)
def test_unknown_ids_are_404_naming_what_was_asked(path):
    client, settings, *_ = make_api(rate_limit_requests=100)
    response = client.get(path, headers=bearer(settings))
    assert response.status_code == 404
    assert path.rsplit("/", 1)[1] in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/traces", {"sort": "size"}, "sort"),
        ("/api/v1/traces", {"order": "up"}, "order"),
        ("/api/v1/traces", {"status": "meh"}, "status"),
        ("/api/v1/traces", {"q": "w" * 201}, "q"),
        ("/api/v1/traces", {"cursor": "x" * 600}, "cursor"),
        (
            "/api/v1/traces",
            {"sort": "cost", "cursor": "WyJ0cmFjZXM6dGltZTpkZXNjIiwiMjAyNSIsInQiXQ"},
            "cursor",
        ),
        ("/api/v1/sessions", {"limit": "501"}, "limit"),
        ("/api/v1/sessions", {"from": "2025-01-02", "to": "2025-01-01"}, "from"),
        ("/api/v1/sessions", {"cursor": "!!"}, "cursor"),
        ("/api/v1/users", {"to": "tomorrow"}, "to"),
        ("/api/v1/users", {"model": "m" * 300}, "model"),
        ("/api/v1/logs", {"min_severity": "loud"}, "min_severity"),
        ("/api/v1/logs", {"trace_id": "t" * 300}, "trace_id"),
        ("/api/v1/logs", {"limit": "0"}, "limit"),
        ("/api/v1/sessions/" + "s" * 300, {}, "session_id"),
    ],
)
def test_every_bad_parameter_is_422_naming_it(path, params, name):
    client, settings, db, _ = make_api(rate_limit_requests=100)
    response = client.get(path, headers=bearer(settings), params=params)
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith(f"{name}: "), response.json()
    assert db.calls == []  # refused before any query


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ traces(sort: "size") { nextCursor } }', "sort"),
        ('{ traces(filter: {q: "%s"}) { nextCursor } }' % ("w" * 201), "filter.q"),
        ("{ sessions(first: 0) { nextCursor } }", "first"),
        (
            '{ users(filter: {from: "2025-01-02T00:00:00Z", to: "2025-01-01T00:00:00Z"}) '
            "{ nextCursor } }",
            "filter.from",
        ),
        ("{ logs(filter: {minSeverity: 30}) { nextCursor } }", "filter.minSeverity"),
        ('{ logs(after: "garbage!") { nextCursor } }', "after"),
    ],
)
def test_graphql_bad_arguments_of_the_explorer_are_named(query, argument):
    client, settings, *_ = make_api(rate_limit_requests=100)
    body = client.post("/graphql", headers=bearer(settings), json={"query": query}).json()
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert error["message"].startswith(f"{argument}: ")


def test_rest_and_graphql_answer_a_session_from_the_same_rows():
    client, settings, db, _ = make_api(rate_limit_requests=100)
    db.rows = [SESSION_ROW]
    rest = client.get("/api/v1/sessions", headers=bearer(settings)).json()
    assert rest["items"][0] == {
        **{
            k: v
            for k, v in SESSION_ROW.items()
            if k not in {"first_seen", "last_seen", "id", "scanned", "oldest"}
        },
        "first_seen": "2025-01-01T00:00:00Z",
        "last_seen": "2025-01-01T01:00:00Z",
        "cost_usd": 0.25,
    }
    query = "{ sessions { items { sessionId traces llmCalls inputTokens costUsd users } } }"
    graph = client.post("/graphql", headers=bearer(settings), json={"query": query}).json()
    (item,) = graph["data"]["sessions"]["items"]
    assert item == {
        "sessionId": "conv-1", "traces": 2, "llmCalls": 3, "inputTokens": 2**40,
        "costUsd": 0.25, "users": ["u1"],
    }  # fmt: skip


# One row that serves every statement of a session list: the scan's edge, the id and
# time of the group, and the group's totals.
SESSION_ROW = {
    "scanned": 1,
    "oldest": datetime(2025, 1, 1, tzinfo=UTC),
    "id": "conv-1",
    "session_id": "conv-1",
    "first_seen": datetime(2025, 1, 1, tzinfo=UTC),
    "last_seen": datetime(2025, 1, 1, 1, tzinfo=UTC),
    "traces": 2,
    "llm_calls": 3,
    "input_tokens": 2**40,
    "output_tokens": 7,
    "cost_usd": Decimal("0.25"),
    "errors": 0,
    "users": ["u1"],
}


@pytest.mark.parametrize("sort", ["time", "duration", "cost"])
@pytest.mark.parametrize("common_search", [False, True])
def test_every_trace_list_way_keeps_client_text_out_of_the_sql(sort, common_search):
    filters = {name: HOSTILE for name in ("service", "provider", "model", "user", "session", "q")}
    query = TraceQuery.parse({**filters, "status": "ok", "from": "2025-01-01"}, sort=sort)
    statement, params = trace_list_sql(query, common_search=common_search)
    text = statement.as_string()
    assert "DROP TABLE" not in text
    for name in filters:
        assert params[name] == HOSTILE and f"%({name})s" in text
    # A common word is probed within the trace's own span times: the bounds that let
    # TimescaleDB skip chunks; a rare one is read as a set over the widened range.
    if common_search:
        assert "x.start_time >= t.first_seen AND x.start_time <= t.last_seen" in text
    else:
        assert "x.start_time >= %(start)s - %(spread_before)s" in text
