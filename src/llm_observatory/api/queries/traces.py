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
from llm_observatory.api.queries.trace_list import SPREAD_AFTER, SPREAD_BEFORE
from llm_observatory.api.schemas import LogRecord, Span, TraceDetail

# --- one trace --------------------------------------------------------------------------

# Totals from the trace's summary (storage/trace_summaries.py), whose first and last
# span start also bound the spans read: a lookup by trace id alone would probe every
# chunk of `spans`; bounded, TimescaleDB reads only the chunks of the trace's time.
_TRACE_TOTALS = """
SELECT trace_id, first_seen AS start_time, last_end AS end_time, span_count, llm_calls,
       input_tokens, output_tokens, cost_usd::float8 AS cost_usd,
       CASE WHEN has_error THEN 'error' ELSE 'ok' END AS status
FROM trace_summaries WHERE trace_id = %(trace_id)s
"""
_BOUND = "(SELECT {column} FROM trace_summaries WHERE trace_id = %(trace_id)s)"

_TRACE_SPANS = sql.SQL(
    "SELECT {columns} FROM spans s WHERE s.trace_id = %(trace_id)s "
    f"AND s.start_time >= {_BOUND.format(column='first_seen')} "
    f"AND s.start_time <= {_BOUND.format(column='last_seen')} "
    "ORDER BY s.start_time, s.span_id LIMIT %(limit)s"
).format(columns=select_list(Span, "s", SPAN_EXPRESSIONS))

# Log records are written while their spans run, with some clock skew, and may be
# emitted by a service after its span ended: the trace's time, widened as the
# traces list's search window is.
_TRACE_LOGS = sql.SQL(
    "SELECT {columns} FROM log_records l WHERE l.trace_id = %(trace_id)s "
    f"AND l.time >= {_BOUND.format(column='first_seen')} - %(before)s "
    f"AND l.time <= {_BOUND.format(column='last_end')} + %(after)s "
    "ORDER BY l.time, l.span_id LIMIT %(limit)s"
).format(columns=select_list(LogRecord, "l", LOG_EXPRESSIONS))


async def get_trace(db: Database, trace_id: str) -> TraceDetail | None:
    totals, spans, logs = await db.fetch_many(
        [
            (_TRACE_TOTALS, {"trace_id": trace_id}),
            (_TRACE_SPANS, {"trace_id": trace_id, "limit": MAX_TRACE_SPANS}),
            (
                _TRACE_LOGS,
                {
                    "trace_id": trace_id,
                    "limit": MAX_TRACE_LOG_RECORDS + 1,
                    "before": SPREAD_BEFORE,
                    "after": SPREAD_AFTER,
                },
            ),
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
