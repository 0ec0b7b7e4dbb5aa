"""The questions the API answers, shared by REST, GraphQL and the web UI (cache included).

Every function takes the running API's state and a parsed query (api/params.py) and
returns the answer models of api/schemas.py; `None` where the thing asked for does
not exist. Parameters are checked when the query is parsed, so these raise
BadParameter only for a search (`q`) on a stack whose text search is off
(ENABLE_TEXT_SEARCH=false: without its index a search would read every message); a
database that is down or too slow raises psycopg.OperationalError.
"""

from __future__ import annotations

from pydantic import TypeAdapter

from llm_observatory.api.params import (
    USER_DETAIL_ITEMS,
    BadParameter,
    LogQuery,
    SessionFilter,
    SessionQuery,
    TraceFilter,
    TraceQuery,
    UsageQuery,
    UserQuery,
)
from llm_observatory.api.queries import groups, logs, trace_list, traces
from llm_observatory.api.queries import usage as usage_queries
from llm_observatory.api.schemas import (
    LogList,
    ModelSummary,
    SessionDetail,
    SessionList,
    TraceDetail,
    TraceList,
    UsageRow,
    UserDetail,
    UserList,
)
from llm_observatory.api.state import ApiState

_USAGE_ROWS = TypeAdapter(list[UsageRow])
_MODELS = TypeAdapter(list[ModelSummary])
_SERVICES = TypeAdapter(list[str])


def _searchable(state: ApiState, q: str | None) -> None:
    if q is not None and not state.settings.enable_text_search:
        raise BadParameter("q", "text search is off on this stack (ENABLE_TEXT_SEARCH=false)")


async def list_traces(state: ApiState, query: TraceQuery) -> TraceList:
    _searchable(state, query.filter.q)
    return await trace_list.list_traces(state.database, query)


async def get_trace(state: ApiState, trace_id: str) -> TraceDetail | None:
    return await traces.get_trace(state.database, trace_id)


async def list_sessions(state: ApiState, query: SessionQuery) -> SessionList:
    return await groups.list_sessions(state.database, query)


async def get_session(state: ApiState, session_id: str) -> SessionDetail | None:
    return await groups.get_session(state.database, session_id)


async def list_users(state: ApiState, query: UserQuery) -> UserList:
    return await groups.list_users(state.database, query)


async def get_user(state: ApiState, user_id: str) -> UserDetail | None:
    summary = await groups.user_summary(state.database, user_id)
    if summary is None:
        return None
    sessions = await list_sessions(
        state, SessionQuery(SessionFilter(user=user_id), limit=USER_DETAIL_ITEMS)
    )
    recent = await list_traces(
        state, TraceQuery(TraceFilter(user=user_id), limit=USER_DETAIL_ITEMS)
    )
    return UserDetail.model_validate({"user": summary, "sessions": sessions, "traces": recent})


async def list_logs(state: ApiState, query: LogQuery) -> LogList:
    _searchable(state, query.filter.q)
    return await logs.list_logs(state.database, query)


async def usage(state: ApiState, query: UsageQuery) -> list[UsageRow]:
    return await state.cache.get_or_compute(
        "usage",
        query.cache_key(),
        lambda: usage_queries.usage(state.database, query),
        _USAGE_ROWS,
    )


async def models(state: ApiState) -> list[ModelSummary]:
    return await state.cache.get_or_compute(
        "models", "models:v1", lambda: usage_queries.models(state.database), _MODELS
    )


async def services(state: ApiState) -> list[str]:
    """Every service that sent a span (for filter choices)."""
    return await state.cache.get_or_compute(
        "services", "services:v1", lambda: usage_queries.services(state.database), _SERVICES
    )
