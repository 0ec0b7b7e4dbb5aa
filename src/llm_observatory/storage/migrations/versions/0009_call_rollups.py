"""hourly rollups of LLM calls by service, provider, model, user and conversation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 08:00:00

`llm_call_rollups` (storage/call_rollups.py): per hour and per group of LLM calls
sharing service, provider, model, user and conversation, their count, tokens, cost,
failures and first and last start, kept by storage's writer in the transaction that
stores the spans. The users list and a user's figures sum it instead of every call
(about 45,000 per page over 1,000,000 spans), and the models list sums it instead of
`llm_usage_hourly`, which on the Apache build is a view over every LLM call (960 ms
once its cache expired: docs/SCALING.md).

Not a hypertable: rows are few (a few per conversation) and updated while their hour
lasts; retention deletes the hours before the oldest span left. Unique by hour and a
hash of the five text columns, which together can exceed an index entry.

Existing LLM calls are summed here, in one statement (seconds per million spans).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage import call_rollups
from llm_observatory.storage.roles import app_role, grant_sql, readonly_role

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE llm_call_rollups (
            hour             timestamptz  NOT NULL,
            key_hash         bytea        NOT NULL,
            service_name     text         NOT NULL,
            provider         text,
            model            text,
            user_id          text,
            conversation_id  text,
            first_seen       timestamptz  NOT NULL,
            last_seen        timestamptz  NOT NULL,
            llm_calls        bigint       NOT NULL,
            input_tokens     bigint       NOT NULL,
            output_tokens    bigint       NOT NULL,
            cost_usd         numeric      NOT NULL,
            errors           bigint       NOT NULL,
            PRIMARY KEY (hour, key_hash)
        )
        """
    )
    # A user's rows, in the order their distinct conversations are counted in, carrying
    # every column the users list reads or filters by: its page is read from the index
    # alone, without a sort (over 1,000,000 spans, 75,000 rows for a page: 127 ms
    # through the heap, 21 ms from this index).
    op.execute(
        "CREATE INDEX llm_call_rollups_user_idx ON llm_call_rollups (user_id, conversation_id) "
        "INCLUDE (hour, service_name, model, first_seen, last_seen, llm_calls, input_tokens, "
        "output_tokens, cost_usd, errors) WHERE user_id IS NOT NULL"
    )
    for statement in call_rollups.CALLS.rebuild_sql(None):
        op.execute(statement.as_string(None))
    op.execute("ANALYZE llm_call_rollups")
    op.execute(grant_sql(app_role(), "SELECT, INSERT, UPDATE", ("llm_call_rollups",)))
    op.execute(grant_sql(readonly_role(), "SELECT", ("llm_call_rollups",)))


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS llm_call_rollups")
