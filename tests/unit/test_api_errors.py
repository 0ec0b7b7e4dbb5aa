"""Failures on our side, masked the same in REST and GraphQL (api/errors.py), and /health.

The client gets a code, a fixed message and an error id; the log gets the detail under
the same id. The fake database's failures carry a "secret" (a host and a role) that
must reach the log and never the answer.
"""

from __future__ import annotations

import psycopg
import pytest
from starlette.testclient import TestClient

from llm_observatory.api import errors
from llm_observatory.api.errors import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from tests.unit.test_api_app import bearer, make_api

SECRET = "host=db-7.internal user=llmo_app"


class Log:
    """Stands in for api/errors.py's logger: what was logged, at which level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict]] = []

    def warning(self, event: str, **fields) -> None:
        self.lines.append(("warning", event, fields))

    def error(self, event: str, **fields) -> None:
        self.lines.append(("error", event, fields))


@pytest.fixture
def log(monkeypatch) -> Log:
    recorder = Log()
    monkeypatch.setattr(errors, "log", recorder)
    return recorder


def _failing(db, exc: BaseException) -> None:
    async def fetch_all(query, params=None):
        db.calls.append((query, params))
        raise exc

    db.fetch_all = fetch_all


def _api(exc: BaseException):
    client, settings, db, _ = make_api(rate_limit_requests=100)
    _failing(db, exc)
    # A bug's exception is re-raised by Starlette after the answer (for the server's
    # log): the test client must not raise it in the test.
    return TestClient(client.app, raise_server_exceptions=False), settings


def _logged(log: Log, error_id: str) -> tuple[str, dict]:
    (line,) = [
        (level, fields) for level, _, fields in log.lines if fields.get("error_id") == error_id
    ]
    return line


CASES = [
    (psycopg.OperationalError(f"no connection: {SECRET}"), 503, "SERVICE_UNAVAILABLE", "warning"),
    (RuntimeError(f"bug near {SECRET}"), 500, "INTERNAL_SERVER_ERROR", "error"),
    (KeyError(SECRET), 500, "INTERNAL_SERVER_ERROR", "error"),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "status", "code", "level"), CASES)
def test_graphql_masks_a_resolver_failure_and_logs_it_under_its_id(log, exc, status, code, level):
    client, settings = _api(exc)
    response = client.post("/graphql", headers=bearer(settings), json={"query": "{ services }"})
    assert response.status_code == 200
    assert SECRET not in response.text and type(exc).__name__ not in response.text
    (error,) = response.json()["errors"]
    assert error["path"] == ["services"]
    assert error["extensions"]["code"] == code
    assert set(error["extensions"]) == {"code", "errorId"}
    error_id = error["extensions"]["errorId"]
    if status == 503:
        assert error["message"] == DATABASE_UNAVAILABLE
    else:
        assert error["message"] == f"internal error {error_id}: the API's log has the details"
    found_level, fields = _logged(log, error_id)
    assert found_level == level
    assert SECRET in fields["error"] and fields["where"] == "graphql services"


@pytest.mark.parametrize(("exc", "status", "code", "level"), CASES)
def test_rest_masks_the_same_failure_the_same_way(log, exc, status, code, level):
    client, settings = _api(exc)
    response = client.get("/api/v1/services", headers=bearer(settings))
    assert response.status_code == status
    assert SECRET not in response.text and type(exc).__name__ not in response.text
    body = response.json()
    assert set(body) == {"detail", "code", "error_id"}
    assert body["code"] == code
    if status == 503:
        assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert body["detail"] == DATABASE_UNAVAILABLE
    else:
        assert "Retry-After" not in response.headers
        assert body["error_id"] in body["detail"]
    found_level, fields = _logged(log, body["error_id"])
    assert found_level == level
    assert SECRET in fields["error"] and fields["where"] == "GET /api/v1/services"


def test_every_failure_gets_its_own_id(log):
    client, settings = _api(RuntimeError(SECRET))
    ids = {
        client.get("/api/v1/services", headers=bearer(settings)).json()["error_id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_a_clients_mistake_is_not_masked(log):
    client, settings, *_ = make_api(rate_limit_requests=100)
    body = client.post(
        "/graphql",
        headers=bearer(settings),
        json={"query": '{ traces(sort: "size") { nextCursor } }'},
    ).json()
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "sort"}
    assert log.lines == []


# --- /health ----------------------------------------------------------------------------


def test_health_says_only_ok_or_down_whatever_the_failure(monkeypatch):
    client, _, db, fake_redis = make_api()

    async def check():
        raise psycopg.OperationalError(f"could not connect: {SECRET}")

    db.check = check
    fake_redis.broken = True
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "down", "redis": "down"}
    assert SECRET not in response.text and "fake redis" not in response.text
