"""hourly usage rollups with latency buckets

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 15:00:00

`llm_usage_rollups` (storage/call_rollups.py): per hour, per service, provider and
model and per latency bucket (storage/latency_buckets.py), the count of LLM calls,
their tokens, cost and failures, kept by storage's writer in the transaction that
stores the spans. The usage query (GET /api/v1/usage and the models page) sums the
whole hours of its range from here and reads latency percentiles off the merged
bucket counts, instead of reading every call of the day through the usage index,
18 MB per day over 1,000,000 spans and 200 ms when not cached (docs/SCALING.md).

Not a hypertable, like llm_call_rollups: a day is a few thousand rows; retention
deletes the hours before the oldest span left. Existing LLM calls are summed here.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage import call_rollups
from llm_observatory.storage.roles import app_role, grant_sql, readonly_role

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The primary key is the usage query's order: a range of hours is one index range.
    op.execute(
        """
        CREATE TABLE llm_usage_rollups (
            hour             timestamptz  NOT NULL,
            key_hash         bytea        NOT NULL,
            service_name     text         NOT NULL,
            provider         text,
            model            text,
            latency_bucket   integer      NOT NULL,
            llm_calls        bigint       NOT NULL,
            input_tokens     bigint       NOT NULL,
            output_tokens    bigint       NOT NULL,
            cost_usd         numeric      NOT NULL,
            errors           bigint       NOT NULL,
            PRIMARY KEY (hour, key_hash, latency_bucket)
        )
        """
    )
    for statement in call_rollups.USAGE.rebuild_sql(None):
        op.execute(statement.as_string(None))
    op.execute("ANALYZE llm_usage_rollups")
    op.execute(grant_sql(app_role(), "SELECT, INSERT, UPDATE", ("llm_usage_rollups",)))
    op.execute(grant_sql(readonly_role(), "SELECT", ("llm_usage_rollups",)))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS llm_usage_rollups")
