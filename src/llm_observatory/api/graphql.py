"""GraphQL at /graphql: the REST answers, camelCase, behind the same guard.

    trace(traceId)                    -> Trace (null for an unknown id)
    traces(filter, first, after)      -> TraceConnection {items, nextCursor}
    usage(groupBy, interval, from, to) -> [UsageRow]
    models                            -> [ModelSummary]

Pagination is the REST one in connection form: `items` plus `nextCursor`, which goes
into `after` for the next (older) page; no edges/pageInfo. groupBy and interval take
the REST values ("model", "1h"): "1m" cannot be a GraphQL enum value. A bad argument
is an error whose `extensions` are {"code": "BAD_USER_INPUT", "argument": <name>}.
Token sums are `Long` (64-bit): GraphQL's Int stops at 2^31.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NewType

import strawberry
from fastapi import Depends
from graphql import GraphQLError
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from llm_observatory.api import service
from llm_observatory.api.guard import require_client
from llm_observatory.api.params import DEFAULT_PAGE_SIZE, BadParameter, TraceQuery, UsageQuery
from llm_observatory.api.state import ApiState, api_state
from llm_observatory.core.logging import get_logger

log = get_logger("llm_observatory.api.graphql")

Long = NewType("Long", int)


def _bad_input(exc: BadParameter) -> GraphQLError:
    return GraphQLError(
        exc.message if exc.message.startswith(exc.name) else f"{exc.name}: {exc.message}",
        extensions={"code": "BAD_USER_INPUT", "argument": exc.name},
    )


@strawberry.type
class TraceSummary:
    trace_id: str
    root_name: str
    service: str
    start_time: datetime
    duration_ms: float
    span_count: int
    llm_calls: int
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    status: str


@strawberry.type
class TraceConnection:
    items: list[TraceSummary]
    next_cursor: str | None


@strawberry.type
class Span:
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str
    start_time: datetime
    end_time: datetime
    duration_ms: float
    status: str
    provider: str | None
    model: str | None
    operation: str | None
    input_tokens: Long | None
    output_tokens: Long | None
    cost_usd: float | None
    pii_types: list[str]
    attributes: JSON
    events: JSON


@strawberry.type
class Trace:
    trace_id: str
    spans: list[Span]


@strawberry.type
class UsageRow:
    bucket: datetime
    key: str | None
    requests: Long
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    error_rate: float
    p50_latency_ms: float
    p95_latency_ms: float


@strawberry.type
class ModelSummary:
    model: str | None
    provider: str | None
    requests: Long
    input_tokens: Long
    output_tokens: Long
    cost_usd: float
    errors: Long
    first_seen: datetime
    last_seen: datetime


@strawberry.input
class TraceFilter:
    service: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | None = strawberry.field(default=None, description="ok or error")
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None


def _state(info: Info) -> ApiState:
    return api_state(info.context["request"])


def _convert(cls: type, model: Any) -> Any:
    return cls(**model.model_dump())


@strawberry.type
class Query:
    @strawberry.field(description="One trace with all its spans; null for an unknown id.")
    async def trace(self, info: Info, trace_id: str) -> Trace | None:
        found = await service.get_trace(_state(info), trace_id)
        if found is None:
            return None
        return Trace(trace_id=found.trace_id, spans=[_convert(Span, s) for s in found.spans])

    @strawberry.field(description="Traces (root spans with totals), newest first.")
    async def traces(
        self,
        info: Info,
        filter: TraceFilter | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> TraceConnection:
        f = filter or TraceFilter()
        try:
            query = TraceQuery.parse(
                service=f.service or None,
                provider=f.provider or None,
                model=f.model or None,
                status=f.status or None,
                start=f.from_,
                end=f.to,
                limit=first,
                cursor=after or None,
                names={
                    "status": "filter.status",
                    "from": "filter.from",
                    "to": "filter.to",
                    "limit": "first",
                    "cursor": "after",
                },
            )
        except BadParameter as exc:
            raise _bad_input(exc) from None
        page = await service.list_traces(_state(info), query)
        return TraceConnection(
            items=[_convert(TraceSummary, t) for t in page.items], next_cursor=page.next_cursor
        )

    @strawberry.field(description="LLM usage per time bucket and key (model|provider|service).")
    async def usage(
        self,
        info: Info,
        group_by: str = "model",
        interval: Annotated[str, strawberry.argument(description="1m, 1h or 1d")] = "1h",
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> list[UsageRow]:
        try:
            query = UsageQuery.parse(
                group_by, interval, from_, to, names=("groupBy", "interval", "from", "to")
            )
        except BadParameter as exc:
            raise _bad_input(exc) from None
        return [_convert(UsageRow, row) for row in await service.usage(_state(info), query)]

    @strawberry.field(description="Every model seen, with its provider and totals.")
    async def models(self, info: Info) -> list[ModelSummary]:
        return [_convert(ModelSummary, m) for m in await service.models(_state(info))]


class _Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None):  # type: ignore[no-untyped-def]
        # A client's bad input is its answer, not our error log.
        unexpected = [e for e in errors if (e.extensions or {}).get("code") != "BAD_USER_INPUT"]
        super().process_errors(unexpected, execution_context)


schema = _Schema(
    query=Query,
    config=StrawberryConfig(
        scalar_map={
            Long: strawberry.scalar(
                name="Long",
                description="A 64-bit integer (token counts overflow GraphQL's Int).",
                serialize=int,
                parse_value=int,
            )
        }
    ),
    extensions=[
        lambda: QueryDepthLimiter(max_depth=6),
        lambda: MaxAliasesLimiter(max_alias_count=10),
    ],
)


def make_graphql_router(playground: bool) -> GraphQLRouter:
    # The path on the route itself (not an include prefix): the request metrics label
    # requests with the matched route's own path.
    return GraphQLRouter(
        schema,
        path="/graphql",
        graphql_ide="graphiql" if playground else None,
        allow_queries_via_get=True,
        subscription_protocols=(),  # no subscriptions: no websocket endpoint either
        dependencies=[Depends(require_client)],
    )
