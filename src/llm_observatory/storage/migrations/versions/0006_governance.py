"""governance: deletion audit, budget status, the indexes deletion by user reads

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 10:00:00

`deletion_audit`: one row per deletion of data (storage/deletion.py): who asked, how
(cli or api), the selector, when it was asked, started and finished, its status and
the rows deleted per table. Deletions asked through the API arrive here as `pending`
rows the API's read-only role may INSERT (only the columns of a request: it cannot
set a status, timestamps or counts), each signed with a key derived from JWT_SECRET;
maintenance verifies the signature, runs the deletion and completes the row. Not a
hypertable: it is small and must outlive RETENTION_DAYS.

`budget_status`: what maintenance last computed for each budget of BUDGETS_FILE
(storage/budgets.py), the numbers its gauges export; the API's GET /api/v1/budgets
reads it.

Indexes: deletion by user or conversation first finds the traces the id appears in.
0005's indexes cover LLM calls (`WHERE is_llm`); these two cover the other spans
that carry the id (an agent's root span, a tool call), so a deletion never scans
`spans`. Partial: spans without the id pay nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage.roles import grant_sql, readonly_role

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of a deletion request, the only ones the read-only role may write.
REQUEST_COLUMNS = ("requested_by", "selector", "nonce", "signature")

INDEXES = {
    "spans_user_trace_idx": (
        "ON spans (user_id, start_time) INCLUDE (trace_id) WHERE user_id IS NOT NULL AND NOT is_llm"
    ),
    "spans_conversation_trace_idx": (
        "ON spans (conversation_id, start_time) INCLUDE (trace_id) "
        "WHERE conversation_id IS NOT NULL AND NOT is_llm"
    ),
}


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE deletion_audit (
            id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            requested_by  text        NOT NULL,
            via           text        NOT NULL DEFAULT 'api' CHECK (via IN ('cli', 'api')),
            selector      jsonb       NOT NULL,
            requested_at  timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            finished_at   timestamptz,
            status        text        NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed', 'refused')),
            rows_deleted  jsonb       NOT NULL DEFAULT '{}',
            error         text,
            nonce         text        UNIQUE,
            signature     text
        )
        """
    )
    op.execute(
        "CREATE INDEX deletion_audit_pending_idx ON deletion_audit (id) "
        "WHERE status IN ('pending', 'running')"
    )
    op.execute(
        """
        CREATE TABLE budget_status (
            name          text           PRIMARY KEY,
            period        text           NOT NULL,
            scope         text           NOT NULL,
            scope_value   text,
            limit_usd     numeric(18, 9) NOT NULL,
            spend_usd     numeric(18, 9) NOT NULL,
            period_start  timestamptz    NOT NULL,
            period_end    timestamptz    NOT NULL,
            evaluated_at  timestamptz    NOT NULL
        )
        """
    )
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")
    # An identity column needs no grant on its sequence for the INSERT.
    request = f"SELECT, INSERT ({', '.join(REQUEST_COLUMNS)})"
    op.execute(grant_sql(readonly_role(), request, ("deletion_audit",)))
    op.execute(grant_sql(readonly_role(), "SELECT", ("budget_status",)))


def downgrade() -> None:
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS budget_status")
    op.execute("DROP TABLE IF EXISTS deletion_audit")
