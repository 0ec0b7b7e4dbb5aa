"""rejected records and ingest key

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 21:30:00

`rejected_records`: what storage could not write, kept instead of lost. When a write
batch fails for a reason in the data (a value PostgreSQL refuses, an index row too
large), storage splits the batch until the rows that fail are alone, writes them here
(signal, the database's reason, the row as received, cut to a bounded size) and
commits the rest. A hypertable on received_at, so RETENTION_DAYS applies to it too.

`ingest_key` on the three signal tables: the name of the ingest API key an export
came with (NULL where OTLP ingest keys are off), so data can be traced to its sender.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage.roles import app_role, grant_sql, readonly_role

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNAL_TABLES = ("spans", "metric_points", "log_records")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE rejected_records (
            received_at timestamptz NOT NULL DEFAULT now(),
            signal      text        NOT NULL,
            reason      text        NOT NULL,
            record      text        NOT NULL,
            record_size integer     NOT NULL,
            ingest_key  text
        )
        """
    )
    op.execute(
        "SELECT create_hypertable('rejected_records', by_range('received_at', INTERVAL '1 day'))"
    )
    for table in SIGNAL_TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS ingest_key text")
    op.execute(grant_sql(app_role(), "INSERT", ("rejected_records",)))
    op.execute(grant_sql(readonly_role(), "SELECT", ("rejected_records",)))


def downgrade() -> None:
    for table in SIGNAL_TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS ingest_key")
    op.execute("DROP TABLE IF EXISTS rejected_records")
