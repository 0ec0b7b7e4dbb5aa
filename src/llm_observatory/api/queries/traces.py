"""Traces: the list (filters, search, three sorts, keyset pages) and one trace whole.

A trace is listed by its root span (parent_span_id IS NULL) with totals over its LLM
calls. A trace whose root span never arrived is not listed (its spans are still
returned by trace id). Should a trace have two parentless spans, the earliest
represents it, so it is listed once.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import (
    MAX_TRACE_LOG_RECORDS,
    MAX_TRACE_SPANS,
    Cursor,
    TraceQuery,
)
from llm_observatory.api.queries.common import (
    LOG_EXPRESSIONS,
    MESSAGE_SEARCH_VECTOR,
    SEARCH_QUERY,
    SPAN_EXPRESSIONS,
    expression,
    page_rows,
    select_list,
)
from llm_observatory.api.schemas import LogRecord, Span, TraceDetail, TraceList

_ROOT = (
    "r.parent_span_id IS NULL AND NOT EXISTS (SELECT FROM spans o WHERE o.trace_id = r.trace_id "
    "AND o.parent_span_id IS NULL AND (o.start_time, o.span_id) < (r.start_time, r.span_id))"
)

# A trace matches when one of its spans does: each is a probe by trace_id.
_SPAN_FILTERS: dict[str, str] = {
    "provider": "x.is_llm AND x.provider = %(provider)s",
    "model": "x.is_llm AND x.model = %(model)s",
    "user": "x.is_llm AND x.user_id = %(user)s",
    "session": "x.is_llm AND x.conversation_id = %(session)s",
    "q": f"x.is_llm AND {expression(MESSAGE_SEARCH_VECTOR, 'x')} @@ {SEARCH_QUERY}",
}
_ERROR_SPAN = "x.status_code = 'error'"
_ROOT_FILTERS: dict[str, str] = {
    "service": "r.service_name = %(service)s",
    "start": "r.start_time >= %(start)s",
    "end": "r.start_time < %(end)s",
}

# The sort key of each sort, and the SQL type its cursor value is compared as.
_SORT_KEYS: dict[str, str] = {
    "time": "r.start_time",
    "duration": "r.duration_ms",
    "cost": "r.cost_usd",
}
_SORT_TYPES: dict[str, str] = {"time": "timestamptz", "duration": "float8", "cost": "numeric"}

_TRACE_LIST = """
SELECT r.trace_id, r.name AS root_name, r.service_name AS service, r.start_time,
       r.duration_ms, t.span_count, t.llm_calls, t.input_tokens, t.output_tokens,
       r.cost_usd::float8 AS cost_usd,
       CASE WHEN t.has_error THEN 'error' ELSE 'ok' END AS status,
       r.cost_usd AS sort_cost
FROM (
    SELECT r.trace_id, r.name, r.service_name, r.start_time, r.duration_ms,
           (SELECT coalesce(sum(c.cost_usd), 0) FROM spans c
            WHERE c.trace_id = r.trace_id AND c.is_llm) AS cost_usd
    FROM spans r
    WHERE {root}
) r
CROSS JOIN LATERAL (
    SELECT count(*) AS span_count,
           count(*) FILTER (WHERE s.is_llm) AS llm_calls,
           coalesce(sum(s.input_tokens) FILTER (WHERE s.is_llm), 0)::bigint AS input_tokens,
           coalesce(sum(s.output_tokens) FILTER (WHERE s.is_llm), 0)::bigint AS output_tokens,
           coalesce(bool_or(s.status_code = 'error'), false) AS has_error
    FROM spans s
    WHERE s.trace_id = r.trace_id
) t
WHERE {after}
ORDER BY {key} {direction}, r.trace_id {direction}
LIMIT %(limit)s
"""


def _exists(condition: str, negate: bool = False) -> str:
    probe = f"EXISTS (SELECT FROM spans x WHERE x.trace_id = r.trace_id AND {condition})"
    return f"NOT {probe}" if negate else probe


def trace_list_sql(query: TraceQuery) -> tuple[sql.Composed, dict[str, Any]]:
    f = query.filter
    parts = [_ROOT]
    params: dict[str, Any] = {"limit": query.limit + 1}  # one more: is there a next page?
    for name, fragment in _ROOT_FILTERS.items():
        value = getattr(f, name)
        if value is not None:
            parts.append(fragment)
            params[name] = value
    for name, fragment in _SPAN_FILTERS.items():
        value = getattr(f, name)
        if value is not None:
            parts.append(_exists(fragment))
            params[name] = value
    if f.status is not None:
        parts.append(_exists(_ERROR_SPAN, negate=f.status == "ok"))
    after = "true"
    key = _SORT_KEYS[query.sort]
    if query.after is not None:
        op = "<" if query.order == "desc" else ">"
        after = f"({key}, r.trace_id) {op} (%(after_key)s::{_SORT_TYPES[query.sort]}, %(after_id)s)"
        params["after_key"] = query.after.key
        params["after_id"] = query.after.id
    statement = sql.SQL(_TRACE_LIST).format(
        root=sql.SQL(" AND ".join(parts)),
        after=sql.SQL(after),
        key=sql.SQL(key),
        direction=sql.SQL("DESC" if query.order == "desc" else "ASC"),
    )
    return statement, params


_CURSOR_FIELDS = {"time": "start_time", "duration": "duration_ms", "cost": "sort_cost"}


async def list_traces(db: Database, query: TraceQuery) -> TraceList:
    statement, params = trace_list_sql(query)
    rows, more = page_rows(await db.fetch_all(statement, params), query.limit)
    next_cursor = None
    if more:
        last = rows[-1]
        key = last[_CURSOR_FIELDS[query.sort]]
        next_cursor = Cursor(key, last["trace_id"]).encode(query.kind)
    return TraceList.model_validate({"items": rows, "next_cursor": next_cursor})


# --- one trace --------------------------------------------------------------------------

_TRACE_TOTALS = """
SELECT trace_id,
       min(start_time) AS start_time,
       max(end_time) AS end_time,
       count(*) AS span_count,
       count(*) FILTER (WHERE is_llm) AS llm_calls,
       coalesce(sum(input_tokens) FILTER (WHERE is_llm), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens) FILTER (WHERE is_llm), 0)::bigint AS output_tokens,
       coalesce(sum(cost_usd) FILTER (WHERE is_llm), 0)::float8 AS cost_usd,
       CASE WHEN bool_or(status_code = 'error') THEN 'error' ELSE 'ok' END AS status
FROM spans
WHERE trace_id = %(trace_id)s
GROUP BY trace_id
"""

_TRACE_SPANS = sql.SQL(
    "SELECT {columns} FROM spans s WHERE s.trace_id = %(trace_id)s "
    "ORDER BY s.start_time, s.span_id LIMIT %(limit)s"
).format(columns=select_list(Span, "s", SPAN_EXPRESSIONS))

_TRACE_LOGS = sql.SQL(
    "SELECT {columns} FROM log_records l WHERE l.trace_id = %(trace_id)s "
    "ORDER BY l.time, l.span_id LIMIT %(limit)s"
).format(columns=select_list(LogRecord, "l", LOG_EXPRESSIONS))


async def get_trace(db: Database, trace_id: str) -> TraceDetail | None:
    totals, spans, logs = await db.fetch_many(
        [
            (_TRACE_TOTALS, {"trace_id": trace_id}),
            (_TRACE_SPANS, {"trace_id": trace_id, "limit": MAX_TRACE_SPANS}),
            (_TRACE_LOGS, {"trace_id": trace_id, "limit": MAX_TRACE_LOG_RECORDS + 1}),
        ]
    )
    if not totals:
        return None
    logs, more_logs = page_rows(logs, MAX_TRACE_LOG_RECORDS)
    return TraceDetail.model_validate(
        {
            **totals[0],
            "truncated": totals[0]["span_count"] > len(spans),
            "spans": spans,
            "log_records": logs,
            "log_records_truncated": more_logs,
        }
    )
