"""Usage per time bucket, the models seen, the services seen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import MAX_MODELS, MAX_SERVICES, MAX_USAGE_ROWS, UsageQuery
from llm_observatory.api.queries.hours import HOUR, calls_by_hours
from llm_observatory.api.schemas import ModelSummary, UsageRow
from llm_observatory.storage import latency_buckets
from llm_observatory.storage.span_parts import capped_tokens

# Usage grouping: API name -> column. The only identifiers a request can pick.
GROUP_COLUMNS = {"model": "model", "provider": "provider", "service": "service_name"}

# Calls of the range's whole hours are read summed from the usage rollups, per latency
# bucket (storage/call_rollups.py); those of its partial hours, and all of them for
# buckets shorter than an hour, from the spans, put in the same latency buckets. The
# percentiles are read off the merged bucket counts: the bucket that holds the call at
# rank q x (n - 1), counted from the fastest (storage/latency_buckets.py).
_ROLLED_UP = (
    "SELECT time_bucket(%(width)s::interval, s.hour) AS bucket, s.{key} AS key, "
    "s.latency_bucket, s.llm_calls, s.input_tokens, s.output_tokens, s.cost_usd, s.errors "
    "FROM llm_usage_rollups s WHERE true"
)
_CALLS = (
    "SELECT time_bucket(%(width)s::interval, s.start_time) AS bucket, s.{key} AS key, "
    f"{latency_buckets.bucket_sql('s.duration_ms')} AS latency_bucket, 1 AS llm_calls, "
    "s.input_tokens, s.output_tokens, s.cost_usd, (s.status_code = 'error')::int AS errors "
    "FROM spans s WHERE s.is_llm"
)


def _percentile(q: float) -> str:
    return latency_buckets.value_sql(
        f"min(latency_bucket) FILTER (WHERE through > {q} * (total - 1))"
    )


_USAGE = f"""
WITH merged AS (
    SELECT bucket, key, latency_bucket, sum(llm_calls) AS calls,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd, sum(errors) AS errors
    FROM ({{calls}}) c
    GROUP BY 1, 2, 3
), ranked AS (
    SELECT *, sum(calls) OVER (PARTITION BY bucket, key ORDER BY latency_bucket) AS through,
           sum(calls) OVER (PARTITION BY bucket, key) AS total
    FROM merged
)
SELECT bucket, key,
       sum(calls)::bigint AS requests,
       {capped_tokens("sum(input_tokens)")} AS input_tokens,
       {capped_tokens("sum(output_tokens)")} AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
       sum(errors)::float8 / sum(calls) AS error_rate,
       {_percentile(0.5)} AS p50_latency_ms,
       {_percentile(0.95)} AS p95_latency_ms
FROM ranked
GROUP BY bucket, key
ORDER BY bucket, key NULLS LAST
LIMIT %(limit)s
"""


def usage_sql(query: UsageQuery) -> tuple[sql.Composed, dict[str, Any]]:
    params: dict[str, Any] = {"width": query.bucket_width, "limit": MAX_USAGE_ROWS}
    text = calls_by_hours(
        _ROLLED_UP,
        _CALLS,
        (query.start, query.end),
        params,
        split=query.bucket_width % HOUR == timedelta(0),  # a bucket is whole hours
    )
    calls = sql.SQL(text).format(  # type: ignore[arg-type]
        key=sql.Identifier(GROUP_COLUMNS[query.group_by])
    )
    return sql.SQL(_USAGE).format(calls=calls), params  # type: ignore[arg-type]


async def usage(db: Database, query: UsageQuery) -> list[UsageRow]:
    statement, params = usage_sql(query)
    return [UsageRow.model_validate(row) for row in await db.fetch_all(statement, params)]


# From the hourly rollups of the calls (storage/call_rollups.py), a few rows per
# conversation, the same on either licence: `llm_usage_hourly` is a view over every
# LLM call on the Apache build.
_MODELS = f"""
SELECT model, provider,
       sum(llm_calls)::bigint AS requests,
       {capped_tokens("sum(input_tokens)")} AS input_tokens,
       {capped_tokens("sum(output_tokens)")} AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
       sum(errors)::bigint AS errors,
       min(hour) AS first_seen,
       max(hour) AS last_seen
FROM llm_call_rollups
WHERE model IS NOT NULL
GROUP BY model, provider
ORDER BY sum(llm_calls) DESC, model, provider
LIMIT %(limit)s
"""


async def models(db: Database) -> list[ModelSummary]:
    rows = await db.fetch_all(_MODELS, {"limit": MAX_MODELS})
    return [ModelSummary.model_validate(row) for row in rows]


# Distinct services by skipping through the (service_name, start_time) index: one probe
# per service, however many spans each has, and no more probes than the answer holds.
_SERVICES = """
WITH RECURSIVE found AS (
    (SELECT service_name, 1 AS n FROM spans ORDER BY service_name LIMIT 1)
    UNION ALL
    SELECT (SELECT s.service_name FROM spans s WHERE s.service_name > found.service_name
            ORDER BY s.service_name LIMIT 1), found.n + 1
    FROM found WHERE found.service_name IS NOT NULL AND found.n < %(limit)s
)
SELECT service_name FROM found WHERE service_name IS NOT NULL
"""


async def services(db: Database) -> list[str]:
    return [row["service_name"] for row in await db.fetch_all(_SERVICES, {"limit": MAX_SERVICES})]
