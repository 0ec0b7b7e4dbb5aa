from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter
from starlette.testclient import TestClient

from llm_observatory.core.ops import make_ops_app


async def _ok() -> None:
    return None


async def _broken() -> None:
    raise ConnectionRefusedError("connection refused")


async def _slow() -> None:
    await asyncio.sleep(10)


def test_health_ok_when_every_check_passes():
    client = TestClient(make_ops_app({"database": _ok, "redis": _ok}))
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_health_503_names_what_is_down():
    client = TestClient(make_ops_app({"database": _ok, "redis": _broken}))
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["redis"].startswith("down: ConnectionRefusedError")


def test_health_check_timeout_counts_as_down(monkeypatch):
    monkeypatch.setattr("llm_observatory.core.ops.CHECK_TIMEOUT_SECONDS", 0.05)
    response = TestClient(make_ops_app({"storage": _slow})).get("/health")
    assert response.status_code == 503
    assert "no answer" in response.json()["storage"]


def test_metrics_exposes_the_registry():
    registry = CollectorRegistry()
    Counter("llmo_test_things", "things", registry=registry).inc(3)
    response = TestClient(make_ops_app(registry=registry)).get("/metrics")
    assert response.status_code == 200
    assert "llmo_test_things_total 3.0" in response.text
