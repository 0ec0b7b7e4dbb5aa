"""The API application: the web UI at /, REST under /api/v1, GraphQL at /graphql, /health,
OpenAPI at /docs.

/health, /docs and /openapi.json are open; /api/v1 and /graphql pass the guard (rate
limit, then JWT); the UI's pages need a signed-in session (api/ui). A bad parameter
is a 422 whose body names it, both in FastAPI's `detail` list (`loc`) and in a
one-line `message` ("interval: Input should be ...").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from llm_observatory.api import governance, rest
from llm_observatory.api.errors import RETRY_AFTER_SECONDS, safe_error
from llm_observatory.api.graphql import make_graphql_router
from llm_observatory.api.middleware import RequestMetrics
from llm_observatory.api.params import BadParameter
from llm_observatory.api.schemas import Health
from llm_observatory.api.state import ApiState
from llm_observatory.api.ui import mount_ui
from llm_observatory.api.ui.docs import add_offline_docs
from llm_observatory.core.logging import get_logger
from llm_observatory.core.ops import health_response
from llm_observatory.core.settings import ApiSettings
from llm_observatory.core.tracing import TracingMiddleware

log = get_logger("llm_observatory.api")


def _version() -> str:
    try:
        return version("llm-observatory")
    except PackageNotFoundError:
        return "0.0.0"


def _parameter_name(loc: tuple | list) -> str:
    # ("query", "from") -> "from"; a body field keeps its path ("body.filter.status").
    parts = [str(part) for part in loc]
    if parts and parts[0] in {"query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "request"


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = jsonable_encoder(exc.errors())
    message = "; ".join(f"{_parameter_name(e.get('loc', ()))}: {e.get('msg')}" for e in errors)
    return JSONResponse({"detail": errors, "message": message}, status_code=422)


async def _bad_parameter(_: Request, exc: BadParameter) -> JSONResponse:
    detail = [
        {"type": "value_error", "loc": ["query", exc.name], "msg": exc.message, "input": None}
    ]
    return JSONResponse({"detail": detail, "message": str(exc)}, status_code=422)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    # The database down (503, retry) or a bug (500): the cause goes to the log under
    # an id the answer carries, never to the client (api/errors.py; GraphQL alike).
    error = safe_error(exc, f"{request.method} {request.url.path}")
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.status == 503 else None
    return JSONResponse(
        {"detail": error.message, "code": error.code, "error_id": error.error_id},
        status_code=error.status,
        headers=headers,
    )


def create_app(settings: ApiSettings, state: ApiState | None = None) -> FastAPI:
    state = state or ApiState.create(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.open()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="LLM Observatory API",
        version=_version(),
        description=(
            "Traces, spans, usage and models of the LLM calls the collector recorded. "
            "Authenticate with `Authorization: Bearer <JWT>` (`llm-observatory token`)."
        ),
        lifespan=lifespan,
        docs_url=None,  # served from local files below: no CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.api = state
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(BadParameter, _bad_parameter)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.OperationalError, _server_error)  # type: ignore[arg-type]
    # Any other exception: Starlette's last resort calls this, then re-raises for the
    # server's own log line.
    app.add_exception_handler(Exception, _server_error)

    @app.get(
        "/health",
        response_model=Health,
        tags=["operations"],
        responses={503: {"model": Health, "description": "A dependency is down"}},
    )
    async def health() -> JSONResponse:
        return await health_response({"database": state.database.check, "redis": state.redis.check})

    app.include_router(rest.router, tags=["rest"])
    app.include_router(governance.router, tags=["governance"])
    add_offline_docs(app)
    if settings.graphql_enabled:
        app.include_router(make_graphql_router(settings), tags=["graphql"])
    mount_ui(app, settings)

    # Starlette wraps in reverse order: metrics outermost, so they time everything,
    # CORS preflights included.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        expose_headers=["Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"],
        max_age=600,
    )
    static_paths = frozenset(
        path for route in app.routes if "{" not in (path := getattr(route, "path", None) or "{")
    )
    app.add_middleware(RequestMetrics, static_paths=static_paths)
    # One span per request to Jaeger when OTEL_EXPORTER_OTLP_ENDPOINT is set; a no-op if not.
    app.add_middleware(TracingMiddleware)
    return app
