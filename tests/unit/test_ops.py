from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from llm_observatory.core import ops
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import health_response, make_ops_app, run_health_checks


@pytest.fixture(autouse=True)
def _uncached_log(monkeypatch):
    # The logging set-up caches each logger on first use, and a cached logger writes
    # past capture_logs: once an earlier test in the same process has used ops' logger,
    # these tests would see no events. A fresh one binds inside capture_logs.
    monkeypatch.setattr(ops, "log", get_logger(ops.__name__))


# What a failing dependency's exception says: host, role, address. /health is open.
SECRET_DETAIL = 'connection to server at "db.internal" (10.0.0.7), user "llm_app" refused'


async def _ok() -> None:
    return None


async def _broken() -> None:
    raise ConnectionRefusedError(SECRET_DETAIL)


async def _slow() -> None:
    await asyncio.sleep(10)


def test_health_ok_when_every_check_passes():
    client = TestClient(make_ops_app({"database": _ok, "redis": _ok}))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_503_says_down_and_nothing_more():
    client = TestClient(make_ops_app({"database": _ok, "redis": _broken}))
    with capture_logs() as logs:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "ok", "redis": "down"}
    for fragment in ("db.internal", "10.0.0.7", "llm_app", "ConnectionRefusedError"):
        assert fragment not in response.text
    # The reason is in the service's log instead.
    [event] = [e for e in logs if e["event"] == "health check failed"]
    assert event["dependency"] == "redis"
    assert event["reason"] == f"ConnectionRefusedError: {SECRET_DETAIL}"


def test_health_check_timeout_counts_as_down(monkeypatch):
    monkeypatch.setattr("llm_observatory.core.ops.CHECK_TIMEOUT_SECONDS", 0.05)
    with capture_logs() as logs:
        response = TestClient(make_ops_app({"storage": _slow})).get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "storage": "down"}
    assert [e["reason"] for e in logs if e["dependency"] == "storage"] == ["no answer within 0.05s"]


@pytest.mark.parametrize("exc", [RuntimeError("x" * 10_000), OSError(), ValueError("é\n\x00")])
def test_every_failure_reads_down(exc):
    async def failing() -> None:
        raise exc

    healthy, report = asyncio.run(run_health_checks({"db": failing, "cache": _ok}))
    assert (healthy, report) == (False, {"db": "down", "cache": "ok"})


def test_metrics_exposes_the_registry():
    registry = CollectorRegistry()
    Counter("llmo_test_things", "things", registry=registry).inc(3)
    response = TestClient(make_ops_app(registry=registry)).get("/metrics")
    assert response.status_code == 200
    assert "llmo_test_things_total 3.0" in response.text


def test_metrics_off_leaves_health_on():
    """METRICS_ENABLED=false must not break the container's healthcheck on the same port."""
    client = TestClient(make_ops_app({"database": _ok}, metrics=False))
    assert client.get("/metrics").status_code == 404
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


async def test_the_health_answer_is_an_asgi_app_for_plain_asgi_services():
    """Storage's ingest app answers /health with this same response object."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    answer = await health_response({"database": _broken})
    await answer({"type": "http"}, None, send)
    assert sent[0]["status"] == 503
    assert sent[1]["body"] == b'{"status":"degraded","database":"down"}'
