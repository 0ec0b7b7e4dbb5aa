"""The pages. Each calls the API's service layer in-process (the same functions and
answer models as REST and GraphQL) and renders its answer; nothing here runs SQL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from llm_observatory.api import governance, service
from llm_observatory.api.params import INTERVALS, BadParameter, UsageQuery
from llm_observatory.api.rest import Id  # an id in a path: its length, no NUL
from llm_observatory.api.state import api_state
from llm_observatory.api.ui import charts, filters
from llm_observatory.api.ui.render import render
from llm_observatory.api.ui.signin import require_session
from llm_observatory.api.ui.spanview import span_view
from llm_observatory.api.ui.transcript import conversation
from llm_observatory.api.ui.waterfall import rows

INTERVAL_LABELS = {"1m": "per minute", "1h": "per hour", "1d": "per day"}

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_session)])


def bad_request(request: Request, exc: BadParameter, title: str) -> Response:
    return render(request, "error.html", 422, title=title, message=str(exc))


def not_found(request: Request, title: str, message: str) -> Response:
    return render(request, "error.html", 404, title=title, message=message)


async def _choices(request: Request) -> dict[str, list[str]]:
    """Filter choices: known services, models and providers (cached by the service layer)."""
    state = api_state(request)
    known = await service.models(state)
    return {
        "services": await service.services(state),
        "models": sorted({m.model for m in known if m.model}),
        "providers": sorted({m.provider for m in known if m.provider}),
    }


def _list_context(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    params = request.query_params
    return {
        "filters": filters.current(params, fields),
        "first_page": not params.get("cursor"),
        "ranges": filters.RANGE_LABELS,
    }


async def _list_page(
    request: Request, title: str, parse: Any, answer: Any, fields: tuple[str, ...], **extra: Any
) -> Response:
    """A list page: its filters parsed (422 page if bad), one service call, its template."""
    try:
        query = parse(request.query_params)
        page = await answer(api_state(request), query)
    except BadParameter as exc:
        return bad_request(request, exc, title)
    return render(
        request,
        f"{title.lower()}.html",
        title=title,
        page=page,
        **_list_context(request, fields),
        **await _choices(request),
        **extra,
    )


def _detail_page(request: Request, kind: str, key: str, found: Any, **extra: Any) -> Response:
    """A session's or user's page, or the page saying no LLM call has it."""
    if found is None:
        message = f"No LLM call has {kind.lower()} {key}."
        return not_found(request, f"{kind} not found", message)
    return render(request, f"{kind.lower()}.html", title=f"{kind} {key}", detail=found, **extra)


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/traces", status_code=303)


@router.get("/traces")
async def traces(request: Request) -> Response:
    return await _list_page(
        request,
        "Traces",
        filters.trace_query,
        service.list_traces,
        filters.TRACE_FIELDS,
        sorts=filters.SORT_LABELS,
    )


@router.get("/traces/{trace_id}")
async def trace(request: Request, trace_id: Id) -> Response:
    found = await service.get_trace(api_state(request), trace_id)
    if found is None:
        return not_found(request, "Trace not found", f"No span has the trace id {trace_id}.")
    waterfall, total_ms = rows(found.spans)
    selected_id = request.query_params.get("span")
    selected = next((r.span for r in waterfall if r.span.span_id == selected_id), None)
    if selected is None:
        # The first LLM call is what a person opens a trace for; else the root.
        selected = next((r.span for r in waterfall if r.is_llm), waterfall[0].span)
    return render(
        request,
        "trace.html",
        title=f"Trace {trace_id}",
        trace=found,
        rows=waterfall,
        total_ms=total_ms,
        selected=span_view(selected),
        logs=found.log_records,
    )


@router.get("/sessions")
async def sessions(request: Request) -> Response:
    return await _list_page(
        request, "Sessions", filters.session_query, service.list_sessions, filters.SESSION_FIELDS
    )


@router.get("/sessions/{session_id}")
async def session(request: Request, session_id: Id) -> Response:
    found = await service.get_session(api_state(request), session_id)
    turns = conversation(found.traces) if found is not None else None
    return _detail_page(request, "Session", session_id, found, turns=turns)


@router.get("/users")
async def users(request: Request) -> Response:
    return await _list_page(
        request, "Users", filters.user_query, service.list_users, filters.USER_FIELDS
    )


@router.get("/users/{user_id}")
async def user(request: Request, user_id: Id) -> Response:
    found = await service.get_user(api_state(request), user_id)
    return _detail_page(request, "User", user_id, found)


@router.get("/logs")
async def logs(request: Request) -> Response:
    return await _list_page(
        request,
        "Logs",
        filters.log_query,
        service.list_logs,
        filters.LOG_FIELDS,
        severities=filters.SEVERITY_LABELS,
    )


@router.get("/models")
async def models(request: Request) -> Response:
    state = api_state(request)
    params = request.query_params
    interval = filters.text(params, "interval") or "1h"
    range_name = filters.text(params, "range") or "24h"
    try:
        if interval not in INTERVALS:
            raise BadParameter("interval", f"must be one of {', '.join(INTERVALS)}")
        if range_name not in filters.RANGES:
            raise BadParameter("range", f"must be one of {', '.join(filters.RANGES)}")
        query = UsageQuery.parse(
            "model",
            interval,
            filters.range_start(range_name),
            None,
            names=("group_by", "interval", "range", "range"),
        )
    except BadParameter as exc:
        return bad_request(request, exc, "Models")
    return render(
        request,
        "models.html",
        title="Models",
        models=await service.models(state),
        chart=charts.series(await service.usage(state, query), query.start, query.end),
        interval=interval,
        range_name=range_name,
        ranges={k: v for k, v in filters.RANGE_LABELS.items() if k},
        intervals=INTERVAL_LABELS,
    )


@router.get("/budgets")
async def budgets(request: Request) -> Response:
    answer = await governance.budget_list(api_state(request))
    return render(request, "budgets.html", title="Budgets", budgets=answer.items)
