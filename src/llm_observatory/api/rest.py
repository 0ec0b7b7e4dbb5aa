"""REST routes under /api/v1 (all behind the guard: rate limit, then JWT).

Each route parses its parameters into a query of api/params.py, asks api/service.py
and writes the answer model as JSON directly: the model was validated once, from the
rows, and is not converted again on the way out.
"""

# No `from __future__ import annotations`: FastAPI reads the annotations of the
# dependencies made in `page_query` at run time, where they are closure variables.
import inspect
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel

from llm_observatory.api import service
from llm_observatory.api.guard import require_client
from llm_observatory.api.params import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_CEILING,
    MAX_PAGE_SIZE,
    MAX_TEXT,
    GroupBy,
    Interval,
    LogQuery,
    PageQuery,
    SessionQuery,
    SortOrder,
    TraceFilter,
    TraceQuery,
    TraceSort,
    UsageQuery,
    UserQuery,
)
from llm_observatory.api.schemas import (
    LogList,
    ModelList,
    ServiceList,
    SessionDetail,
    SessionList,
    TraceDetail,
    TraceList,
    UsageList,
    UserDetail,
    UserList,
)
from llm_observatory.api.state import api_state
from llm_observatory.api.values import TEXT_SCHEMA, IsoDateTime, plain_text

ERRORS = {
    400: {"description": "A malformed HTTP request (e.g. a request line over 64 KiB)"},
    401: {"description": "Missing, malformed, expired or wrongly signed token"},
    422: {"description": "A parameter is not valid; the body names it"},
    429: {"description": "Rate limit exceeded; see Retry-After"},
    503: {"description": "The database is unavailable or too slow; retry shortly"},
}

router = APIRouter(prefix="/api/v1", dependencies=[Depends(require_client)], responses=ERRORS)

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")]
PageCursor = Annotated[
    str | None,
    Query(
        description="next_cursor of the previous page (at most MAX_CURSOR_LENGTH characters)",
        max_length=MAX_CURSOR_CEILING,
    ),
]
Id = Annotated[
    str,
    Path(min_length=1, max_length=MAX_TEXT, json_schema_extra=TEXT_SCHEMA),
    AfterValidator(plain_text),
]


def page_query(query_type: type[PageQuery]) -> Callable[..., Any]:
    """The dependency that reads a list's filters, limit and cursor into its query."""
    filter_model = query_type.filter_model

    def parse(
        request: Request,
        filters: Annotated[filter_model, Query()],  # type: ignore[valid-type]
        limit: Limit = DEFAULT_PAGE_SIZE,
        cursor: PageCursor = None,
    ) -> PageQuery:
        return query_type.parse(
            filters, limit=limit, cursor=cursor or None, max_cursor=_max_cursor(request)
        )

    return parse


def _max_cursor(request: Request) -> int:
    return api_state(request).settings.max_cursor_length


def _json(answer: BaseModel) -> Response:
    return Response(answer.model_dump_json(), media_type="application/json")


def _found(answer: BaseModel | None, what: str, value: str) -> Response:
    if answer is None:
        raise HTTPException(status_code=404, detail=f"no {what} {value!r}")
    return _json(answer)


@router.get("/traces", response_model=TraceList, summary="Traces, newest first or sorted")
async def list_traces(
    request: Request,
    filters: Annotated[TraceFilter, Query()],
    sort: Annotated[
        TraceSort, Query(description="root start time, root duration or trace cost")
    ] = "time",
    order: Annotated[SortOrder, Query()] = "desc",
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: PageCursor = None,
) -> Response:
    query = TraceQuery.parse(
        filters,
        sort=sort,
        order=order,
        limit=limit,
        cursor=cursor or None,
        max_cursor=_max_cursor(request),
    )
    return _json(await service.list_traces(api_state(request), query))


def _list_route(
    path: str, query_type: type[PageQuery], answer: type[BaseModel], ask: Any, summary: str
) -> None:
    """GET one page of a list: its filters, limit and cursor."""

    async def route(
        request: Request, query: Annotated[query_type, Depends(page_query(query_type))]
    ) -> Response:
        return _json(await ask(api_state(request), query))

    router.add_api_route(
        path, route, response_model=answer, summary=summary, name=f"list_{path[1:]}"
    )


def _detail_route(
    path: str, answer: type[BaseModel], ask: Any, what: str, summary: str, missing: str
) -> None:
    """GET one thing by its id (the path's one parameter); 404 naming what was asked for."""
    key = path.rsplit("{", 1)[1].rstrip("}")

    async def route(request: Request, **path_parameters: str) -> Response:
        value = path_parameters[key]
        return _found(await ask(api_state(request), value), what, value)

    # FastAPI reads the parameters from the signature: the path's own name, checked as Id.
    route.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            ),
            inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, annotation=Id),
        ],
        return_annotation=Response,
    )
    router.add_api_route(
        path,
        route,
        response_model=answer,
        summary=summary,
        responses={404: {"description": missing}},
        name=f"get_{key.removesuffix('_id')}",
    )


# In this order in the OpenAPI document: each list, then one of its items.
_detail_route(
    "/traces/{trace_id}",
    TraceDetail,
    service.get_trace,
    "trace with trace_id",
    "One trace: its spans with every stored field, and its log records",
    "No span has this trace id",
)
_list_route(
    "/sessions", SessionQuery, SessionList, service.list_sessions, "Sessions (conversations)"
)
_detail_route(
    "/sessions/{session_id}",
    SessionDetail,
    service.get_session,
    "session",
    "One session: its traces in time order, with their LLM calls' messages",
    "No LLM call has this conversation id",
)
_list_route("/users", UserQuery, UserList, service.list_users, "Users of the LLM calls")
_detail_route(
    "/users/{user_id}",
    UserDetail,
    service.get_user,
    "user",
    "One user: totals, recent sessions and recent traces",
    "No LLM call has this user id",
)
_list_route(
    "/logs", LogQuery, LogList, service.list_logs, "The applications' log records, newest first"
)


@router.get("/usage", response_model=UsageList, summary="LLM usage per time bucket and key")
async def usage(
    request: Request,
    group_by: Annotated[GroupBy, Query()] = "model",
    interval: Annotated[Interval, Query()] = "1h",
    start: Annotated[
        IsoDateTime | None, Query(alias="from", description="default: `to` minus 24 hours")
    ] = None,
    end: Annotated[
        IsoDateTime | None, Query(alias="to", description="exclusive; default: now")
    ] = None,
) -> Response:
    query = UsageQuery.parse(group_by, interval, start, end)
    return _json(UsageList(items=await service.usage(api_state(request), query)))


@router.get("/models", response_model=ModelList, summary="Every model seen, with totals")
async def models(request: Request) -> Response:
    return _json(ModelList(items=await service.models(api_state(request))))


@router.get("/services", response_model=ServiceList, summary="Every service that sent a span")
async def services(request: Request) -> Response:
    return _json(ServiceList(items=await service.services(api_state(request))))
