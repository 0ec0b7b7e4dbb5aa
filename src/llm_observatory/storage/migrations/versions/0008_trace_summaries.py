"""trace summaries: one row per trace for the traces list; rare log severities

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:00:00

`trace_summaries` (storage/trace_summaries.py): per trace its root span, totals
(spans, LLM calls, tokens, cost, failed) and the models, providers, users and
conversations of its LLM calls, kept by storage's writer in the transaction that
stores the spans. The traces list reads it instead of probing `spans` per trace:
over 1,000,000 spans the cost sort went from 0.7-2.7 s to milliseconds
(docs/SCALING.md).

Not a hypertable: a row is updated while its trace's spans arrive, and its key is
the trace id alone (a trace's root can arrive after its children, so its start time
is not known when the row is made). Retention deletes rows whose last span is older
than RETENTION_DAYS.

The indexes 0005 added to `spans` for the list's probes (roots by duration and by
trace, LLM calls and failures by trace) are dropped: every span paid for them at
ingest, and nothing reads them any more.

`log_records_severe_idx`: log records of at least ERROR by severity. "At least FATAL"
when there is none read every warning's row of every chunk through 0005's index
(about 1 s from disk over 900,000 records); by severity it reads nothing.

Existing spans are summarised here, in one statement (seconds per million spans).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from llm_observatory.storage import trace_summaries
from llm_observatory.storage.roles import app_role, grant_sql, readonly_role

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Listed traces only (a root has arrived), in the keyset order of each sort. Each
# carries the columns of the filters that can match many traces (time range, service,
# failed, model, provider), so a page is found from the index alone even when the
# sort and the filter disagree (the most expensive traces are rarely those of the
# cheap model most calls use: 150,000 rows walked for one page); rare values (a user,
# a conversation, a rare model) come from the GIN index instead.
_FILTERED = "service_name, has_error, models, providers"
INDEXES = {
    "trace_summaries_time_idx": f"(start_time, trace_id) INCLUDE ({_FILTERED})",
    "trace_summaries_duration_idx": f"(duration_ms, trace_id) INCLUDE (start_time, {_FILTERED})",
    "trace_summaries_cost_idx": f"(cost_usd, trace_id) INCLUDE (start_time, {_FILTERED})",
}

# ERROR (17) and worse: a few percent of the records.
SEVERE_LOGS = "ON log_records (severity_number, time DESC) WHERE severity_number >= 17"

# name -> definition, as 0005 made them (for the downgrade).
DROPPED_SPANS_INDEXES = {
    "spans_root_duration_idx": (
        "ON spans (duration_ms DESC, trace_id DESC) INCLUDE (span_id, start_time, service_name) "
        "WHERE parent_span_id IS NULL"
    ),
    "spans_root_trace_idx": (
        "ON spans (trace_id, start_time) INCLUDE (span_id, duration_ms, service_name) "
        "WHERE parent_span_id IS NULL"
    ),
    "spans_llm_trace_idx": (
        "ON spans (trace_id, start_time) INCLUDE (model, provider, user_id, conversation_id) "
        "WHERE is_llm"
    ),
    "spans_error_trace_idx": "ON spans (trace_id, start_time) WHERE status_code = 'error'",
}


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE trace_summaries (
            trace_id          text             PRIMARY KEY,
            root_span_id      text,
            root_name         text,
            service_name      text,
            start_time        timestamptz,
            duration_ms       double precision,
            first_seen        timestamptz      NOT NULL,
            last_seen         timestamptz      NOT NULL,
            last_end          timestamptz      NOT NULL,
            span_count        integer          NOT NULL,
            llm_calls         integer          NOT NULL,
            input_tokens      bigint           NOT NULL,
            output_tokens     bigint           NOT NULL,
            cost_usd          numeric          NOT NULL,
            has_error         boolean          NOT NULL,
            models            text[]           NOT NULL,
            providers         text[]           NOT NULL,
            user_ids          text[]           NOT NULL,
            conversation_ids  text[]           NOT NULL
        )
        """
    )
    for name, columns in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON trace_summaries {columns} WHERE start_time IS NOT NULL")
    # One GIN index answers "has this model / provider / user / conversation".
    op.execute(
        "CREATE INDEX trace_summaries_values_idx ON trace_summaries "
        "USING gin (models, providers, user_ids, conversation_ids)"
    )
    op.execute("CREATE INDEX trace_summaries_last_seen_idx ON trace_summaries (last_seen)")
    op.execute(f"CREATE INDEX IF NOT EXISTS log_records_severe_idx {SEVERE_LOGS}")
    for statement in trace_summaries.rebuild_sql(None):
        op.execute(statement.as_string(None))
    op.execute("ANALYZE trace_summaries")
    for name in DROPPED_SPANS_INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.execute(grant_sql(app_role(), "SELECT, INSERT, UPDATE", ("trace_summaries",)))
    op.execute(grant_sql(readonly_role(), "SELECT", ("trace_summaries",)))


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS log_records_severe_idx")
    for name, definition in DROPPED_SPANS_INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")
    op.execute("DROP TABLE IF EXISTS trace_summaries")
