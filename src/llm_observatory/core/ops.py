"""The operations endpoints every service serves on its metrics port: /health, /metrics.

Compose healthchecks and Prometheus both talk to this one small app, so a service's
health means the same thing everywhere: its dependencies answered just now.

A health answer says `ok` or `down` per dependency and nothing more: /health needs no
token, and an exception's text names hosts, roles and addresses. Why a dependency is
down goes to the service's log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llm_observatory.core.logging import get_logger

# Each check returns normally when the dependency is fine and raises when it is not.
HealthCheck = Callable[[], Awaitable[object]]

CHECK_TIMEOUT_SECONDS = 2.0
OK = "ok"
DOWN = "down"

# Histogram buckets of the services' own durations (an export, a forward, a batch
# write, a request): 5 ms to 10 s.
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

log = get_logger(__name__)


async def run_health_checks(checks: Mapping[str, HealthCheck]) -> tuple[bool, dict[str, str]]:
    """(all ok, {dependency: "ok" | "down"}); the reason for each "down" is logged."""

    async def one(name: str, check: HealthCheck) -> str:
        try:
            await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(
                "health check failed",
                dependency=name,
                reason=f"no answer within {CHECK_TIMEOUT_SECONDS:g}s",
            )
            return DOWN
        except Exception as exc:  # any failure means down; the reason goes to the log only
            log.warning(
                "health check failed",
                dependency=name,
                reason=f"{type(exc).__name__}: {exc}"[:500],
            )
            return DOWN
        return OK

    names = list(checks)
    results = await asyncio.gather(*(one(name, checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    return all(result == OK for result in results), report


async def ping_database(pool: Any, up: Gauge | None = None) -> None:
    """`SELECT 1` through a connection pool; `up` (a 0/1 gauge) records the outcome."""
    try:
        async with pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
    except Exception:
        if up is not None:
            up.set(0)
        raise
    if up is not None:
        up.set(1)


async def health_response(checks: Mapping[str, HealthCheck]) -> JSONResponse:
    """The /health answer of every service: 200 {"status": "ok", dependency: "ok", ...},
    or 503 {"status": "degraded", ...} when a check failed. An ASGI app itself, so a
    plain ASGI service answers with `await (await health_response(...))(scope, receive,
    send)`."""
    healthy, report = await run_health_checks(checks)
    body = {"status": "ok" if healthy else "degraded", **report}
    return JSONResponse(body, status_code=200 if healthy else 503)


def make_ops_app(
    checks: Mapping[str, HealthCheck] | None = None,
    registry: CollectorRegistry = REGISTRY,
    *,
    metrics: bool = True,
) -> Starlette:
    """/health over `checks`, and /metrics of `registry` unless `metrics` is False."""
    checks = dict(checks or {})

    async def health(_: Request) -> JSONResponse:
        return await health_response(checks)

    async def exposition(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    routes = [Route("/health", health)]
    if metrics:
        routes.append(Route("/metrics", exposition))
    return Starlette(routes=routes)
