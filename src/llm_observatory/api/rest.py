"""REST routes under /api/v1 (all behind the guard: rate limit, then JWT)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from llm_observatory.api import service
from llm_observatory.api.guard import require_client
from llm_observatory.api.params import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    GroupBy,
    Interval,
    TraceQuery,
    TraceStatus,
    UsageQuery,
)
from llm_observatory.api.schemas import ModelList, TraceDetail, TraceList, UsageList
from llm_observatory.api.state import api_state

ERRORS = {
    401: {"description": "Missing, malformed, expired or wrongly signed token"},
    422: {"description": "A parameter is not valid; the body names it"},
    429: {"description": "Rate limit exceeded; see Retry-After"},
}

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_client)], responses=ERRORS)


def _blank_is_none(value: str | None) -> str | None:
    """`?service=` (empty) means no filter, as in a query string built from a form."""
    return value if value else None


@router.get("/traces", response_model=TraceList, summary="Traces, newest first")
async def list_traces(
    request: Request,
    service_: Annotated[
        str | None, Query(alias="service", description="service of the root span")
    ] = None,
    provider: Annotated[
        str | None, Query(description="traces with at least one span of this provider")
    ] = None,
    model: Annotated[
        str | None, Query(description="traces with at least one span of this model")
    ] = None,
    status: Annotated[
        TraceStatus | None, Query(description="error: some span failed; ok: none did")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="root span starts at or after")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="root span starts before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(description="next_cursor of the previous page", max_length=512)
    ] = None,
) -> TraceList:
    query = TraceQuery.parse(
        service=_blank_is_none(service_),
        provider=_blank_is_none(provider),
        model=_blank_is_none(model),
        status=status,
        start=start,
        end=end,
        limit=limit,
        cursor=_blank_is_none(cursor),
    )
    return await service.list_traces(api_state(request), query)


@router.get(
    "/traces/{trace_id}",
    response_model=TraceDetail,
    summary="Every span of one trace",
    responses={404: {"description": "No span has this trace id"}},
)
async def get_trace(
    request: Request, trace_id: Annotated[str, Path(min_length=1, max_length=128)]
) -> TraceDetail:
    trace = await service.get_trace(api_state(request), trace_id)
    if trace is None:
        raise HTTPException(status_code=404, detail=f"no trace with trace_id {trace_id!r}")
    return trace


@router.get("/usage", response_model=UsageList, summary="LLM usage per time bucket and key")
async def usage(
    request: Request,
    group_by: Annotated[GroupBy, Query()] = "model",
    interval: Annotated[Interval, Query()] = "1h",
    start: Annotated[
        datetime | None, Query(alias="from", description="default: `to` minus 24 hours")
    ] = None,
    end: Annotated[
        datetime | None, Query(alias="to", description="exclusive; default: now")
    ] = None,
) -> UsageList:
    query = UsageQuery.parse(group_by, interval, start, end)
    return UsageList(items=await service.usage(api_state(request), query))


@router.get("/models", response_model=ModelList, summary="Every model seen, with totals")
async def models(request: Request) -> ModelList:
    return ModelList(items=await service.models(api_state(request)))
