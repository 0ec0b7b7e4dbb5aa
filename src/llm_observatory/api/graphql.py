"""GraphQL at /graphql: the REST answers, camelCase, behind the same guard.

    trace(traceId)                          -> TraceDetail (null for an unknown id)
    traces(filter, sort, order, first, after) -> TraceList {items, nextCursor}
    session(sessionId) / sessions(filter, first, after)
    user(userId) / users(filter, first, after)
    logs(filter, first, after)              -> LogList
    usage(groupBy, interval, from, to)      -> [UsageRow]
    models                                  -> [ModelSummary]
    services                                -> [String]

Every type is derived from the pydantic models of api/schemas.py and api/params.py
(api/graphql_types.py): this module declares the queries and their arguments only.
Pagination is the REST one in connection form: `items` plus `nextCursor`, which goes
into `after` for the next page; no edges/pageInfo. groupBy, interval, sort and order
take the REST values ("model", "1h", "cost", "desc"): "1m" cannot be a GraphQL enum
value. A bad argument is an error whose `extensions` are {"code": "BAD_USER_INPUT",
"argument": <name>}. Token sums are `Long` (64-bit): GraphQL's Int stops at 2^31.

What a request may ask (depth, aliases, cost, size) is api/graphql_limits.py, each
query field's cost is FIELD_COSTS below. A failure on our side is masked as REST
masks it (api/errors.py): extensions {"code": "SERVICE_UNAVAILABLE" or
"INTERNAL_SERVER_ERROR", "errorId": ...}, the detail in the log. Introspection is on
only with the playground (GRAPHQL_PLAYGROUND), as GraphiQL needs it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from fastapi import Depends, Request
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult, Info
from strawberry.utils.str_converters import to_camel_case

from llm_observatory.api import schemas, service
from llm_observatory.api.errors import safe_error
from llm_observatory.api.graphql_arguments import NamedArgumentErrors
from llm_observatory.api.graphql_http import describe_routes
from llm_observatory.api.graphql_limits import (
    STATEMENT_COST,
    DocumentLimits,
    FieldCost,
    StatementBudget,
    bounded_body,
)
from llm_observatory.api.graphql_types import SCALARS, input_type, input_values, object_type
from llm_observatory.api.guard import require_client
from llm_observatory.api.params import (
    DEFAULT_PAGE_SIZE,
    BadParameter,
    LogFilter,
    LogQuery,
    PageQuery,
    SessionFilter,
    SessionQuery,
    TraceFilter,
    TraceQuery,
    UsageQuery,
    UserFilter,
    UserQuery,
    check_text,
)
from llm_observatory.api.state import ApiState, api_state
from llm_observatory.api.ui.docs import OfflineGraphQLRouter
from llm_observatory.core.settings import ApiSettings

TraceDetailType = object_type(schemas.TraceDetail)
TraceListType = object_type(schemas.TraceList)
SessionDetailType = object_type(schemas.SessionDetail)
SessionListType = object_type(schemas.SessionList)
UserDetailType = object_type(schemas.UserDetail)
UserListType = object_type(schemas.UserList)
LogListType = object_type(schemas.LogList)
UsageRowType = object_type(schemas.UsageRow)
ModelSummaryType = object_type(schemas.ModelSummary)
TraceFilterInput = input_type(TraceFilter)
SessionFilterInput = input_type(SessionFilter)
UserFilterInput = input_type(UserFilter)
LogFilterInput = input_type(LogFilter)

# REST parameter -> GraphQL argument, for the names in error messages.
NAMES = {
    "from": "filter.from",
    "to": "filter.to",
    "limit": "first",
    "cursor": "after",
    "sort": "sort",
    "order": "order",
}
Q = TypeVar("Q")


def _camel(name: str) -> str:
    # filter.min_severity -> filter.minSeverity: the argument as a GraphQL client wrote it.
    return ".".join(to_camel_case(part) for part in name.split("."))


def _bad_input(exc: BadParameter) -> GraphQLError:
    name = _camel(exc.name)
    return GraphQLError(
        f"{name}: {exc.message}", extensions={"code": "BAD_USER_INPUT", "argument": name}
    )


def _parse(
    info: Info, parse: Callable[..., Q], filter: Any, first: int, after: str | None, **kw: Any
) -> Q:
    try:
        return parse(
            input_values(filter),
            limit=first,
            cursor=after or None,
            names=NAMES,
            filter_prefix="filter.",
            max_cursor=_state(info).settings.max_cursor_length,
            **kw,
        )
    except BadParameter as exc:
        raise _bad_input(exc) from None


def _id(name: str, value: str) -> str:
    try:
        return check_text(name, value)
    except BadParameter as exc:
        raise _bad_input(exc) from None


def _state(info: Info) -> ApiState:
    # The request's own: its database counts the statements (graphql_limits).
    return info.context["state"]


async def _page(info: Info, ask: Callable[[ApiState, Q], Awaitable[Any]], query: Q) -> Any:
    try:
        return await ask(_state(info), query)
    except BadParameter as exc:  # a search while text search is off: a filter's field
        raise _bad_input(BadParameter(f"filter.{exc.name}", exc.message)) from None


def _page_field(
    query_type: type[PageQuery], filter_input: Any, answer: Any, ask: Any, description: str
) -> Any:
    """A list's query field: filter, first, after; its answer one page."""

    async def resolve(
        info: Info, filter: Any = None, first: int = DEFAULT_PAGE_SIZE, after: str | None = None
    ) -> Any:
        query = _parse(info, query_type.parse, filter, first, after)
        return await _page(info, ask, query)

    # strawberry reads the argument and answer types from the annotations.
    resolve.__annotations__ = {
        "info": Info,
        "filter": filter_input | None,
        "first": int,
        "after": str | None,
        "return": answer,
    }
    return strawberry.field(resolver=resolve, description=description)


@strawberry.type
class Query:
    @strawberry.field(description="One trace with its spans and log records; null if unknown.")
    async def trace(self, info: Info, trace_id: str) -> TraceDetailType | None:  # type: ignore[valid-type]
        return await service.get_trace(_state(info), _id("traceId", trace_id))

    @strawberry.field(description="Traces (root spans with totals), newest first or sorted.")
    async def traces(
        self,
        info: Info,
        filter: TraceFilterInput | None = None,  # type: ignore[valid-type]
        sort: Annotated[str, strawberry.argument(description="time, duration or cost")] = "time",
        order: Annotated[str, strawberry.argument(description="desc or asc")] = "desc",
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> TraceListType:  # type: ignore[valid-type]
        query = _parse(info, TraceQuery.parse, filter, first, after, sort=sort, order=order)
        return await _page(info, service.list_traces, query)

    @strawberry.field(description="One session's traces in time order; null if unknown.")
    async def session(self, info: Info, session_id: str) -> SessionDetailType | None:  # type: ignore[valid-type]
        return await service.get_session(_state(info), _id("sessionId", session_id))

    sessions = _page_field(
        SessionQuery,
        SessionFilterInput,
        SessionListType,
        service.list_sessions,
        "Sessions (conversation ids), most recently active first.",
    )

    @strawberry.field(description="One user's totals, recent sessions and traces; null if unknown.")
    async def user(self, info: Info, user_id: str) -> UserDetailType | None:  # type: ignore[valid-type]
        return await service.get_user(_state(info), _id("userId", user_id))

    users = _page_field(
        UserQuery,
        UserFilterInput,
        UserListType,
        service.list_users,
        "Users of the LLM calls, most recently active first.",
    )
    logs = _page_field(
        LogQuery,
        LogFilterInput,
        LogListType,
        service.list_logs,
        "The applications' log records, newest first.",
    )

    @strawberry.field(description="LLM usage per time bucket and key (model|provider|service).")
    async def usage(
        self,
        info: Info,
        group_by: str = "model",
        interval: Annotated[str, strawberry.argument(description="1m, 1h or 1d")] = "1h",
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[UsageRowType]:  # type: ignore[valid-type]
        try:
            query = UsageQuery.parse(
                group_by, interval, from_, to, names=("groupBy", "interval", "from", "to")
            )
        except BadParameter as exc:
            raise _bad_input(exc) from None
        return await service.usage(_state(info), query)

    @strawberry.field(description="Every model seen, with its provider and totals.")
    async def models(self, info: Info) -> list[ModelSummaryType]:  # type: ignore[valid-type]
        return await service.models(_state(info))

    @strawberry.field(description="Every service that sent a span.")
    async def services(self, info: Info) -> list[str]:
        return await service.services(_state(info))


# What each query field may cost (api/graphql_limits.py): the database statements it
# may run, at most, on a cache miss; a page costs its `first` too.
FIELD_COSTS: dict[str, FieldCost] = {
    "trace": FieldCost(statements=3),  # totals, spans, log records
    "traces": FieldCost(statements=3, page=True),  # search count, probe, then hashed
    "session": FieldCost(statements=3),  # totals, calls, roots
    "sessions": FieldCost(statements=2, page=True),  # recent ids (more if it widens), totals
    "user": FieldCost(statements=5),  # totals, its sessions (2), its traces (2)
    "users": FieldCost(statements=2, page=True),
    "logs": FieldCost(statements=1, page=True),
    "usage": FieldCost(statements=1),
    "models": FieldCost(statements=1),
    "services": FieldCost(statements=1),
}


def _masked(error: GraphQLError) -> bool:
    """A failure on our side, not the client's (whose errors say what to change)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    # A variable's value refused by its scalar (before anything ran): the client's.
    return not (error.path is None and isinstance(original, ValueError | TypeError))


class _Schema(strawberry.Schema):
    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [self._mask(error) for error in result.errors]
        return result

    @staticmethod
    def _mask(error: GraphQLError) -> GraphQLError:
        if not _masked(error):
            return error
        assert error.original_error is not None
        where = "graphql " + ".".join(str(part) for part in error.path or ())
        safe = safe_error(error.original_error, where)
        return GraphQLError(
            safe.message,
            nodes=error.nodes,
            path=error.path,
            extensions={"code": safe.code, "errorId": safe.error_id},
        )

    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        # Logged by _mask with an id (the detail) or not at all (a client's mistake).
        return None


def make_schema(settings: ApiSettings) -> strawberry.Schema:
    extensions: list[Any] = [lambda: DocumentLimits(settings, FIELD_COSTS), NamedArgumentErrors]
    if not settings.graphql_playground:
        extensions.append(DisableIntrospection)
    return _Schema(query=Query, config=StrawberryConfig(scalar_map=SCALARS), extensions=extensions)


def _context(request: Request) -> dict[str, Any]:
    state = api_state(request)
    budget = StatementBudget(state.database, state.settings.graphql_max_cost // STATEMENT_COST)
    return {"state": dataclasses.replace(state, database=budget)}


def make_graphql_router(settings: ApiSettings) -> GraphQLRouter:
    # The path on the route itself (not an include prefix): the request metrics label
    # requests with the matched route's own path. GraphiQL's page loads its files from
    # the stack (api/ui/docs.py), not from a CDN.
    router = OfflineGraphQLRouter(
        make_schema(settings),
        path="/graphql",
        graphql_ide="graphiql" if settings.graphql_playground else None,
        allow_queries_via_get=True,
        subscription_protocols=(),  # no subscriptions: no websocket endpoint either
        context_getter=_context,
        # The guard first (rate limit, token), then the body's size, before it is read.
        dependencies=[Depends(require_client), Depends(bounded_body)],
    )
    describe_routes(router, settings)
    return router
