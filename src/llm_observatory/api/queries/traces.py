"""One trace whole: its totals, its spans (bounded) and its log records (bounded).

The list of traces is api/queries/trace_list.py.
"""

from __future__ import annotations

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import (
    MAX_TRACE_LOG_RECORDS,
    MAX_TRACE_SPANS,
)
from llm_observatory.api.queries.common import (
    LOG_EXPRESSIONS,
    SPAN_EXPRESSIONS,
    page_rows,
    select_list,
)
from llm_observatory.api.schemas import LogRecord, Span, TraceDetail

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
