"""The traces list: filters, search, three sorts, keyset pages, one row per trace.

A trace is its row of `trace_summaries` (storage/trace_summaries.py, kept by storage's
writer as spans are stored): its root span's name, service, start and duration, its
totals, and the models, providers, users and conversations of its LLM calls. A trace
is listed once its root (the earliest span without a parent) has arrived.

Filters: the root's service and time range; "has an LLM call of this model /
provider / user / conversation" (one GIN index over the four sets); some span failed
or none did. Sorts: the root's start time, the root's duration, the trace's cost,
each with an index in keyset order (key, trace id).

Search (`q`) matches words in prompts and completions, which are in `spans` (its
full-text index). The matching calls are counted first, up to COMMON_SEARCH: a rare
word's traces are read as a set and joined to the rows; a common word is probed on
each row in sort order (its spans between its first and last span start, so only
those chunks are read) until the page is full. A call counts for its trace's search
when it starts from SPREAD_BEFORE before the time range to SPREAD_AFTER after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import Cursor, TraceQuery
from llm_observatory.api.queries.common import (
    MESSAGE_SEARCH_VECTOR,
    SEARCH_QUERY,
    expression,
    select_list,
)
from llm_observatory.api.schemas import TraceList, TraceSummary

COMMON_SEARCH = 5_000  # search words in more calls than this are probed, not gathered
SPREAD_BEFORE = timedelta(minutes=5)  # clocks of different services disagree a little
SPREAD_AFTER = timedelta(hours=1)

# Field of a listed trace -> its expression over trace_summaries `t`.
TRACE_EXPRESSIONS: dict[str, str] = {
    "service": "{t}.service_name",
    "cost_usd": "{t}.cost_usd::float8",
    "status": "CASE WHEN {t}.has_error THEN 'error' ELSE 'ok' END",
}
_SELECT = select_list(TraceSummary, "t", TRACE_EXPRESSIONS)

# Filter -> its condition on the row `t`, chosen by which parameters are present.
_FILTERS: dict[str, str] = {
    "service": "t.service_name = %(service)s",
    "start": "t.start_time >= %(start)s",
    "end": "t.start_time < %(end)s",
    "provider": "t.providers @> ARRAY[%(provider)s::text]",
    "model": "t.models @> ARRAY[%(model)s::text]",
    "user": "t.user_ids @> ARRAY[%(user)s::text]",
    "session": "t.conversation_ids @> ARRAY[%(session)s::text]",
}
_STATUS = {"error": "t.has_error", "ok": "NOT t.has_error"}

_SORT_KEYS = {"time": "t.start_time", "duration": "t.duration_ms", "cost": "t.cost_usd"}
_SORT_TYPES = {"time": "timestamptz", "duration": "float8", "cost": "numeric"}
_CURSOR_FIELDS = {"time": "start_time", "duration": "duration_ms", "cost": "sort_cost"}

_MATCHES = f"x.is_llm AND {expression(MESSAGE_SEARCH_VECTOR, 'x')} @@ {SEARCH_QUERY}"
_RANGE = {
    "start": "x.start_time >= %(start)s - %(spread_before)s",
    "end": "x.start_time < %(end)s + %(spread_after)s",
}
# A scalar subquery with LIMIT stays a probe per row (EXISTS could become a join over
# every matching call, which is what a common word must avoid).
_PROBE = (
    f"(SELECT 1 FROM spans x WHERE x.trace_id = t.trace_id AND x.start_time >= t.first_seen "
    f"AND x.start_time <= t.last_seen AND {_MATCHES} LIMIT 1) IS NOT NULL"
)
_COUNT_MATCHES = (
    "SELECT count(*) AS n FROM (SELECT 1 FROM spans x WHERE {matches}{range} LIMIT %(cap)s) c"
)


def _search_range(query: TraceQuery) -> str:
    return "".join(f" AND {part}" for name, part in _RANGE.items() if getattr(query.filter, name))


def _search_params(query: TraceQuery) -> dict[str, Any]:
    """What the search's conditions name: the words and the widened time range."""
    f = query.filter
    return {
        "q": f.q,
        "start": f.start,
        "end": f.end,
        "spread_before": SPREAD_BEFORE,
        "spread_after": SPREAD_AFTER,
    }


def trace_list_sql(
    query: TraceQuery, common_search: bool = False
) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement of one page and its parameters (one row more: is there a next page?).

    `common_search`: the search words match too many calls for their set to be read.
    """
    f = query.filter
    params: dict[str, Any] = {"limit": query.limit + 1}
    where = ["t.start_time IS NOT NULL"]
    for name, condition in _FILTERS.items():
        value = getattr(f, name)
        if value is not None:
            where.append(condition)
            params[name] = value
    if f.status is not None:
        where.append(_STATUS[f.status])
    if f.q:
        params.update(_search_params(query))
        if common_search:
            where.append(_PROBE)
        else:
            matching = f"SELECT x.trace_id FROM spans x WHERE {_MATCHES}{_search_range(query)}"
            where.append(f"t.trace_id IN ({matching})")
    key, direction = _SORT_KEYS[query.sort], "DESC" if query.order == "desc" else "ASC"
    if query.after is not None:
        op = "<" if query.order == "desc" else ">"
        where.append(
            f"({key}, t.trace_id) {op} (%(after_key)s::{_SORT_TYPES[query.sort]}, %(after_id)s)"
        )
        params["after_key"] = query.after.key
        params["after_id"] = query.after.id
    order = f"{key} {direction}, t.trace_id {direction}"
    # The page's trace ids first, then their rows: the ids of a page can be read from
    # the sort's index alone (it carries the common filters' columns), which matters
    # when many rows are passed over.
    text = (
        f"SELECT {_SELECT.as_string(None)}, t.cost_usd AS sort_cost FROM (SELECT t.trace_id "
        f"FROM trace_summaries t WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %(limit)s) "
        f"page JOIN trace_summaries t ON t.trace_id = page.trace_id ORDER BY {order}"
    )
    return sql.SQL(text), params  # type: ignore[arg-type]


async def _common_search(db: Database, query: TraceQuery) -> bool:
    """Whether the words match more calls than a set worth reading (counted from the
    full-text index, stopping at the cap)."""
    if not query.filter.q:
        return False
    text = _COUNT_MATCHES.format(matches=_MATCHES, range=_search_range(query))
    params = {**_search_params(query), "cap": COMMON_SEARCH + 1}
    rows = await db.fetch_all(sql.SQL(text), params)  # type: ignore[arg-type]
    return bool(rows) and rows[0]["n"] > COMMON_SEARCH


async def list_traces(db: Database, query: TraceQuery) -> TraceList:
    statement, params = trace_list_sql(query, await _common_search(db, query))
    rows = await db.fetch_all(statement, params)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = Cursor(last[_CURSOR_FIELDS[query.sort]], last["trace_id"]).encode(query.kind)
    return TraceList.model_validate({"items": page, "next_cursor": next_cursor})
