"""initial schema

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

The three signal hypertables (`spans`, `metric_points`, `log_records`), their
indexes, grants, and `llm_usage_hourly`.

Licence-dependent part (``current_setting('timescaledb.license')``):
- 'timescale' (community/TSL build, the upstream image): compression settings and a
  compression policy (7 days) on the three hypertables; `llm_usage_hourly` is a
  continuous aggregate with real-time aggregation (materialized_only = false) and a
  refresh policy.
- 'apache' (e.g. Debian's build): no compression; `llm_usage_hourly` is a plain view
  over `spans` with the same SELECT, so the same columns and the same answers.

Types: token counts are bigint (sums are numeric); costs are numeric(18,9) — exact
sums for billing-style reports, nano-dollar resolution, up to 1e9 USD per span.
Uniqueness: (trace_id, span_id, start_time) on spans, so retried exports are ignored
with ON CONFLICT DO NOTHING. That index also serves trace lookup by trace_id (its
leading column), so there is no separate (trace_id) index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from llm_observatory.storage.roles import app_role, grant_sql, readonly_role

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HYPERTABLES = ("spans", "metric_points", "log_records")
CHUNK_INTERVAL = "1 day"

CREATE_TABLES = [
    """
    CREATE TABLE spans (
        start_time            timestamptz      NOT NULL,
        end_time              timestamptz      NOT NULL,
        duration_ms           double precision NOT NULL,
        trace_id              text             NOT NULL,
        span_id               text             NOT NULL,
        parent_span_id        text,
        service_name          text             NOT NULL,
        name                  text             NOT NULL,
        kind                  text             NOT NULL,
        status_code           text             NOT NULL DEFAULT 'unset',
        status_message        text,
        scope_name            text,
        is_llm                boolean          NOT NULL DEFAULT false,
        provider              text,
        operation             text,
        request_model         text,
        response_model        text,
        model                 text,
        input_tokens          bigint,
        output_tokens         bigint,
        total_tokens          bigint,
        cache_read_tokens     bigint,
        cache_creation_tokens bigint,
        reasoning_tokens      bigint,
        cost_usd              numeric(18, 9),
        reported_cost_usd     numeric(18, 9),
        conversation_id       text,
        user_id               text,
        input_messages        jsonb,
        output_messages       jsonb,
        pii_types             text[]           NOT NULL DEFAULT '{}',
        attributes            jsonb            NOT NULL DEFAULT '{}',
        resource_attributes   jsonb            NOT NULL DEFAULT '{}',
        events                jsonb            NOT NULL DEFAULT '[]',
        links                 jsonb            NOT NULL DEFAULT '[]',
        ingested_at           timestamptz      NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE metric_points (
        time                    timestamptz      NOT NULL,
        start_time              timestamptz,
        metric_name             text             NOT NULL,
        metric_type             text             NOT NULL,
        service_name            text             NOT NULL,
        scope_name              text,
        unit                    text,
        description             text,
        value                   double precision,
        count                   bigint,
        sum                     double precision,
        min                     double precision,
        max                     double precision,
        buckets                 jsonb,
        is_monotonic            boolean,
        aggregation_temporality text,
        attributes              jsonb            NOT NULL DEFAULT '{}',
        resource_attributes     jsonb            NOT NULL DEFAULT '{}'
    )
    """,
    """
    CREATE TABLE log_records (
        time                timestamptz NOT NULL,
        observed_time       timestamptz,
        service_name        text        NOT NULL,
        scope_name          text,
        severity_number     integer,
        severity_text       text,
        body                jsonb,
        trace_id            text,
        span_id             text,
        event_name          text,
        attributes          jsonb       NOT NULL DEFAULT '{}',
        resource_attributes jsonb       NOT NULL DEFAULT '{}',
        pii_types           text[]      NOT NULL DEFAULT '{}'
    )
    """,
]

CREATE_HYPERTABLES = [
    f"SELECT create_hypertable('spans', by_range('start_time', INTERVAL '{CHUNK_INTERVAL}'))",
    f"SELECT create_hypertable('metric_points', by_range('time', INTERVAL '{CHUNK_INTERVAL}'))",
    f"SELECT create_hypertable('log_records', by_range('time', INTERVAL '{CHUNK_INTERVAL}'))",
]

# create_hypertable also makes the default (time DESC) index on each table.
CREATE_INDEXES = [
    # Idempotent ingest (ON CONFLICT DO NOTHING) and trace lookup by trace_id.
    "CREATE UNIQUE INDEX spans_trace_span_start_uidx ON spans (trace_id, span_id, start_time)",
    "CREATE INDEX spans_service_time_idx ON spans (service_name, start_time DESC)",
    "CREATE INDEX spans_model_time_idx ON spans (model, start_time DESC) WHERE is_llm",
    "CREATE INDEX spans_provider_time_idx ON spans (provider, start_time DESC) WHERE is_llm",
    # Trace list: root spans, newest first.
    "CREATE INDEX spans_root_time_idx ON spans (start_time DESC) WHERE parent_span_id IS NULL",
    # Error list / error rate panels.
    "CREATE INDEX spans_error_time_idx ON spans (start_time DESC) WHERE status_code = 'error'",
    "CREATE INDEX metric_points_name_time_idx ON metric_points (metric_name, time DESC)",
    "CREATE INDEX log_records_service_time_idx ON log_records (service_name, time DESC)",
    "CREATE INDEX log_records_trace_idx ON log_records (trace_id) WHERE trace_id IS NOT NULL",
]

# One SELECT for both the continuous aggregate and the plain view: same columns, same
# answers. Only sums, counts and max, which continuous aggregates support.
USAGE_SELECT = """
    SELECT
        time_bucket(INTERVAL '1 hour', start_time)           AS bucket,
        service_name,
        provider,
        model,
        count(*)                                              AS requests,
        sum(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS errors,
        sum(input_tokens)                                     AS input_tokens,
        sum(output_tokens)                                    AS output_tokens,
        sum(total_tokens)                                     AS total_tokens,
        sum(cache_read_tokens)                                AS cache_read_tokens,
        sum(cache_creation_tokens)                            AS cache_creation_tokens,
        sum(reasoning_tokens)                                 AS reasoning_tokens,
        sum(cost_usd)                                         AS cost_usd,
        sum(duration_ms)                                      AS duration_ms_sum,
        max(duration_ms)                                      AS duration_ms_max
    FROM spans
    WHERE is_llm
    GROUP BY bucket, service_name, provider, model
"""

USAGE_COLUMNS = (
    "bucket",
    "service_name",
    "provider",
    "model",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
    "cost_usd",
    "duration_ms_sum",
    "duration_ms_max",
)

# 'timescale' licence (community build). Not runnable on the Apache build, where each
# of these fails with: functionality not supported under the current "apache" license.
LICENSED_SQL = [
    """
    ALTER TABLE spans SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'service_name',
        timescaledb.compress_orderby = 'start_time DESC'
    )
    """,
    "SELECT add_compression_policy('spans', compress_after => INTERVAL '7 days', "
    "if_not_exists => true)",
    """
    ALTER TABLE metric_points SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'metric_name',
        timescaledb.compress_orderby = 'time DESC'
    )
    """,
    "SELECT add_compression_policy('metric_points', compress_after => INTERVAL '7 days', "
    "if_not_exists => true)",
    """
    ALTER TABLE log_records SET (
        timescaledb.compress,
        timescaledb.compress_segmentby = 'service_name',
        timescaledb.compress_orderby = 'time DESC'
    )
    """,
    "SELECT add_compression_policy('log_records', compress_after => INTERVAL '7 days', "
    "if_not_exists => true)",
    # WITH NO DATA: a continuous aggregate WITH DATA cannot be created inside a
    # transaction. materialized_only = false (real-time aggregation; off by default
    # since 2.13) makes the not-yet-materialized recent hours come from spans, so the
    # answers match the plain view's.
    f"""
    CREATE MATERIALIZED VIEW llm_usage_hourly
    WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
    {USAGE_SELECT}
    WITH NO DATA
    """,
    "SELECT add_continuous_aggregate_policy('llm_usage_hourly', "
    "start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', "
    "schedule_interval => INTERVAL '30 minutes', if_not_exists => true)",
]

APACHE_SQL = [f"CREATE VIEW llm_usage_hourly AS {USAGE_SELECT}"]


def grants() -> list[str]:
    app = app_role()
    readonly = readonly_role()
    objects = (*HYPERTABLES, "llm_usage_hourly")
    return [
        grant_sql(app, "SELECT, INSERT, UPDATE, DELETE", HYPERTABLES),
        grant_sql(app, "SELECT", ("llm_usage_hourly",)),
        grant_sql(readonly, "SELECT", objects),
    ]


def licence() -> str:
    value = op.get_bind().execute(sa.text("SELECT current_setting('timescaledb.license', true)"))
    return value.scalar() or "apache"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    for statement in (*CREATE_TABLES, *CREATE_HYPERTABLES, *CREATE_INDEXES):
        op.execute(statement)
    for statement in LICENSED_SQL if licence() == "timescale" else APACHE_SQL:
        op.execute(statement)
    for statement in grants():
        op.execute(statement)


def downgrade() -> None:
    # The timescaledb extension stays: the init script may have created it, and other
    # objects in the database may use it.
    is_cagg = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT EXISTS (SELECT FROM timescaledb_information.continuous_aggregates "
                "WHERE view_schema = current_schema() AND view_name = 'llm_usage_hourly')"
            )
        )
        .scalar()
    )
    if is_cagg:
        op.execute("DROP MATERIALIZED VIEW llm_usage_hourly")  # its policy goes with it
    else:
        op.execute("DROP VIEW IF EXISTS llm_usage_hourly")
    # Dropping a hypertable drops its chunks and its compression/retention jobs.
    for table in reversed(HYPERTABLES):
        op.execute(f"DROP TABLE IF EXISTS {table}")
