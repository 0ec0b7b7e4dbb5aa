"""The applications' OTLP log records: filters, newest first, keyset pages.

log_records has no key of its own, so a page ends at (time, ctid): the row's place in
its chunk. Rows are never updated (the application role may only insert) and every
chunk covers its own time range, so rows of one time share a chunk and that pair is
unique and stable while a client pages.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import Cursor, LogQuery
from llm_observatory.api.queries.common import (
    LOG_EXPRESSIONS,
    LOG_SEARCH_VECTOR,
    SEARCH_QUERY,
    expression,
    page_rows,
    select_list,
)
from llm_observatory.api.schemas import LogList, LogRecord

_FILTERS: dict[str, str] = {
    "service": "l.service_name = %(service)s",
    "trace_id": "l.trace_id = %(trace_id)s",
    "span_id": "l.span_id = %(span_id)s",
    "start": "l.time >= %(start)s",
    "end": "l.time < %(end)s",
    "q": f"{expression(LOG_SEARCH_VECTOR, 'l')} @@ {SEARCH_QUERY}",
}

_LOG_LIST = """
SELECT {columns}, l.ctid::text AS position
FROM log_records l
WHERE {where}
ORDER BY l.time DESC, l.ctid DESC
LIMIT %(limit)s
"""


def log_list_sql(query: LogQuery) -> tuple[sql.Composed, dict[str, Any]]:
    f = query.filter
    parts: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": query.limit + 1}
    for name, fragment in _FILTERS.items():
        value = getattr(f, name)
        if value is not None:
            parts.append(sql.SQL(fragment))
            params[name] = value
    if f.min_severity is not None:
        # A literal (a validated int), so the planner can match partial indexes.
        parts.append(sql.SQL("l.severity_number >= {}").format(sql.Literal(f.min_severity)))
    if query.after is not None:
        parts.append(
            sql.SQL(
                "l.time <= %(after_time)s "
                "AND (l.time, l.ctid) < (%(after_time)s, %(after_ctid)s::tid)"
            )
        )
        params["after_time"] = query.after.key
        params["after_ctid"] = query.after.id
    statement = sql.SQL(_LOG_LIST).format(
        columns=select_list(LogRecord, "l", LOG_EXPRESSIONS),
        where=sql.SQL(" AND ").join(parts) if parts else sql.SQL("true"),
    )
    return statement, params


async def list_logs(db: Database, query: LogQuery) -> LogList:
    statement, params = log_list_sql(query)
    rows, more = page_rows(await db.fetch_all(statement, params), query.limit)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = Cursor(last["time"], last["position"]).encode(query.kind)
    return LogList.model_validate({"items": rows, "next_cursor": next_cursor})
