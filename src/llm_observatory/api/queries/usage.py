"""Usage per time bucket, the models seen, the services seen."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import MAX_MODELS, MAX_SERVICES, MAX_USAGE_ROWS, UsageQuery
from llm_observatory.api.schemas import ModelSummary, UsageRow
from llm_observatory.storage.span_parts import capped_tokens

# Usage grouping: API name -> column. The only identifiers a request can pick.
GROUP_COLUMNS = {"model": "model", "provider": "provider", "service": "service_name"}

_USAGE = """
SELECT time_bucket(%(width)s::interval, start_time) AS bucket,
       {key} AS key,
       count(*) AS requests,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd,
       (count(*) FILTER (WHERE status_code = 'error'))::float8 / count(*) AS error_rate,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_latency_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_latency_ms
FROM spans
WHERE is_llm AND start_time >= %(start)s AND start_time < %(end)s
GROUP BY 1, 2
ORDER BY 1, 2 NULLS LAST
LIMIT %(limit)s
"""


def usage_sql(query: UsageQuery) -> tuple[sql.Composed, dict[str, Any]]:
    statement = sql.SQL(_USAGE).format(key=sql.Identifier(GROUP_COLUMNS[query.group_by]))
    params = {
        "width": query.bucket_width,
        "start": query.start,
        "end": query.end,
        "limit": MAX_USAGE_ROWS,
    }
    return statement, params


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
