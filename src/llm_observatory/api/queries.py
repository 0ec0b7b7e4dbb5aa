"""The API's SQL, and the functions that run it and shape the answers.

Values always travel as parameters. The few identifiers that vary (the usage
grouping column) come from a fixed map, composed with psycopg.sql; filters are fixed
fragments chosen by which parameters are present. No client text becomes SQL.

Traces are their root spans (parent_span_id IS NULL) with totals over all spans of
the trace. A trace whose root span never arrived is not listed (its spans are still
returned by trace id). Should a trace have two parentless spans, the earliest
represents it, so it is listed once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import Cursor, TraceQuery, UsageQuery
from llm_observatory.api.schemas import (
    ModelSummary,
    SpanOut,
    TraceDetail,
    TraceList,
    TraceSummary,
    UsageRow,
)

# Usage grouping: API name -> column. The only identifiers a request can pick.
GROUP_COLUMNS = {"model": "model", "provider": "provider", "service": "service_name"}


def _float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


# --- traces -----------------------------------------------------------------------------

_TRACE_FILTERS: dict[str, sql.SQL] = {
    "service": sql.SQL("r.service_name = %(service)s"),
    "start": sql.SQL("r.start_time >= %(start)s"),
    "end": sql.SQL("r.start_time < %(end)s"),
    # The first half lets the (start_time DESC) index start at the cursor.
    "after": sql.SQL(
        "r.start_time <= %(after_time)s AND (r.start_time, r.trace_id) < (%(after_time)s, "
        "%(after_trace)s)"
    ),
    "provider": sql.SQL(
        "EXISTS (SELECT FROM spans p WHERE p.trace_id = r.trace_id AND p.provider = %(provider)s)"
    ),
    "model": sql.SQL(
        "EXISTS (SELECT FROM spans m WHERE m.trace_id = r.trace_id AND m.model = %(model)s)"
    ),
}
_STATUS_FILTERS = {
    "error": sql.SQL(
        "EXISTS (SELECT FROM spans e WHERE e.trace_id = r.trace_id AND e.status_code = 'error')"
    ),
    "ok": sql.SQL(
        "NOT EXISTS (SELECT FROM spans e WHERE e.trace_id = r.trace_id AND e.status_code = 'error')"
    ),
}

_TRACE_LIST = """
SELECT r.trace_id, r.name AS root_name, r.service_name AS service, r.start_time,
       r.duration_ms, t.span_count, t.llm_calls, t.input_tokens, t.output_tokens,
       t.cost_usd, t.has_error
FROM (
    SELECT r.trace_id, r.name, r.service_name, r.start_time, r.duration_ms
    FROM spans r
    WHERE {conditions}
    ORDER BY r.start_time DESC, r.trace_id DESC
    LIMIT %(limit)s
) r
CROSS JOIN LATERAL (
    SELECT count(*) AS span_count,
           count(*) FILTER (WHERE s.is_llm) AS llm_calls,
           coalesce(sum(s.input_tokens), 0) AS input_tokens,
           coalesce(sum(s.output_tokens), 0) AS output_tokens,
           coalesce(sum(s.cost_usd), 0) AS cost_usd,
           coalesce(bool_or(s.status_code = 'error'), false) AS has_error
    FROM spans s
    WHERE s.trace_id = r.trace_id
) t
ORDER BY r.start_time DESC, r.trace_id DESC
"""

_ROOT = sql.SQL(
    "r.parent_span_id IS NULL AND NOT EXISTS (SELECT FROM spans o WHERE o.trace_id = r.trace_id "
    "AND o.parent_span_id IS NULL AND (o.start_time, o.span_id) < (r.start_time, r.span_id))"
)


def trace_list_sql(query: TraceQuery) -> tuple[sql.Composed, dict[str, Any]]:
    conditions = [_ROOT]
    params: dict[str, Any] = {"limit": query.limit + 1}  # one more: is there a next page?
    for name in ("service", "provider", "model", "start", "end"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(_TRACE_FILTERS[name])
            params[name] = value
    if query.after is not None:
        conditions.append(_TRACE_FILTERS["after"])
        params["after_time"] = query.after.start_time
        params["after_trace"] = query.after.trace_id
    if query.status is not None:
        conditions.append(_STATUS_FILTERS[query.status])
    statement = sql.SQL(_TRACE_LIST).format(conditions=sql.SQL(" AND ").join(conditions))
    return statement, params


async def list_traces(db: Database, query: TraceQuery) -> TraceList:
    statement, params = trace_list_sql(query)
    rows = await db.fetch_all(statement, params)
    page = rows[: query.limit]
    items = [
        TraceSummary(
            trace_id=row["trace_id"],
            root_name=row["root_name"],
            service=row["service"],
            start_time=row["start_time"],
            duration_ms=row["duration_ms"],
            span_count=row["span_count"],
            llm_calls=row["llm_calls"],
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cost_usd=float(row["cost_usd"]),
            status="error" if row["has_error"] else "ok",
        )
        for row in page
    ]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = Cursor(last["start_time"], last["trace_id"]).encode()
    return TraceList(items=items, next_cursor=next_cursor)


_TRACE_SPANS = """
SELECT span_id, parent_span_id, name, service_name AS service, kind, start_time, end_time,
       duration_ms, status_code AS status, provider, model, operation, input_tokens,
       output_tokens, cost_usd, pii_types, attributes, events
FROM spans
WHERE trace_id = %(trace_id)s
ORDER BY start_time, span_id
"""


async def get_trace(db: Database, trace_id: str) -> TraceDetail | None:
    rows = await db.fetch_all(_TRACE_SPANS, {"trace_id": trace_id})
    if not rows:
        return None
    spans = []
    for row in rows:
        row["cost_usd"] = _float(row["cost_usd"])
        spans.append(SpanOut.model_validate(row))
    return TraceDetail(trace_id=trace_id, spans=spans)


# --- usage ------------------------------------------------------------------------------

_USAGE = """
SELECT time_bucket(%(width)s::interval, start_time) AS bucket,
       {key} AS key,
       count(*) AS requests,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       (count(*) FILTER (WHERE status_code = 'error'))::float8 / count(*) AS error_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_latency_ms
FROM spans
WHERE is_llm AND start_time >= %(start)s AND start_time < %(end)s
GROUP BY 1, 2
ORDER BY 1, 2 NULLS LAST
"""


def usage_sql(query: UsageQuery) -> tuple[sql.Composed, dict[str, Any]]:
    statement = sql.SQL(_USAGE).format(key=sql.Identifier(GROUP_COLUMNS[query.group_by]))
    params = {"width": query.bucket_width, "start": query.start, "end": query.end}
    return statement, params


async def usage(db: Database, query: UsageQuery) -> list[dict[str, Any]]:
    """Usage rows as JSON-ready dicts (the cache stores them as they are)."""
    statement, params = usage_sql(query)
    rows = await db.fetch_all(statement, params)
    return [
        UsageRow(
            bucket=row["bucket"],
            key=row["key"],
            requests=row["requests"],
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cost_usd=float(row["cost_usd"]),
            error_rate=row["error_rate"],
            p50_latency_ms=row["p50_latency_ms"],
            p95_latency_ms=row["p95_latency_ms"],
        ).model_dump(mode="json")
        for row in rows
    ]


# --- models -----------------------------------------------------------------------------

# llm_usage_hourly: a continuous aggregate where the licence allows, else a view.
_MODELS = """
SELECT model, provider,
       sum(requests)::bigint AS requests,
       coalesce(sum(input_tokens), 0) AS input_tokens,
       coalesce(sum(output_tokens), 0) AS output_tokens,
       coalesce(sum(cost_usd), 0) AS cost_usd,
       sum(errors)::bigint AS errors,
       min(bucket) AS first_seen,
       max(bucket) AS last_seen
FROM llm_usage_hourly
WHERE model IS NOT NULL
GROUP BY model, provider
ORDER BY sum(requests) DESC, model, provider
"""


async def models(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetch_all(_MODELS)
    return [
        ModelSummary(
            model=row["model"],
            provider=row["provider"],
            requests=row["requests"],
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            cost_usd=float(row["cost_usd"]),
            errors=row["errors"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        ).model_dump(mode="json")
        for row in rows
    ]
