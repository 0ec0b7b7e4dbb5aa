"""least privilege for the application role

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:35:00

The storage service only inserts (COPY into a temporary staging table, then INSERT
... SELECT ... ON CONFLICT DO NOTHING) and reads: the application role keeps SELECT
and INSERT on the signal tables and loses UPDATE and DELETE. Retention, deletion and
migrations run as the schema's owner.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage.roles import app_role, grant_sql, revoke_sql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNAL_TABLES = ("spans", "metric_points", "log_records")


def upgrade() -> None:
    op.execute(revoke_sql(app_role(), "UPDATE, DELETE, TRUNCATE", SIGNAL_TABLES))


def downgrade() -> None:
    op.execute(grant_sql(app_role(), "UPDATE, DELETE", SIGNAL_TABLES))
