"""The four questions the API answers, shared by REST and GraphQL (cache included)."""

from __future__ import annotations

from llm_observatory.api import queries
from llm_observatory.api.params import TraceQuery, UsageQuery
from llm_observatory.api.schemas import ModelSummary, TraceDetail, TraceList, UsageRow
from llm_observatory.api.state import ApiState


async def list_traces(state: ApiState, query: TraceQuery) -> TraceList:
    return await queries.list_traces(state.database, query)


async def get_trace(state: ApiState, trace_id: str) -> TraceDetail | None:
    return await queries.get_trace(state.database, trace_id)


async def usage(state: ApiState, query: UsageQuery) -> list[UsageRow]:
    rows = await state.cache.get_or_compute(
        "usage", query.cache_key(), lambda: queries.usage(state.database, query)
    )
    return [UsageRow.model_validate(row) for row in rows]


async def models(state: ApiState) -> list[ModelSummary]:
    rows = await state.cache.get_or_compute(
        "models", "models:v1", lambda: queries.models(state.database)
    )
    return [ModelSummary.model_validate(row) for row in rows]
