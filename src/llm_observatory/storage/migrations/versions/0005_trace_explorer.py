"""trace explorer indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:30:00

What the API's trace explorer reads (api/queries), each measured over a million
seeded spans with messages (tests/performance/api_benchmark.py):

* trace list by time or duration: covering root indexes, so a page of roots and the
  roots checked against filter sets are read from the index alone;
* span filters (model, provider, user, session, failed): a probe by trace_id and
  start time per root (the start time lets TimescaleDB skip every chunk but the
  root's), and for rare matches the sets of trace ids per filter value, read from
  indexes that include the trace id;
* sessions and users: their LLM calls by conversation id / user id, with what their
  totals sum, so a page of groups is summed from the index alone; the LLM-call
  index of the usage query also carries trace, conversation and user ids, for the
  cost sort and the most recently active groups;
* search: full-text indexes over the words of prompts and completions (LLM calls
  only; of the input its newest message, see api/queries/common.py, whose
  expressions these are) and of log bodies;
* logs of at least a warning, newest first.

All indexes are partial where a subset is read (`WHERE is_llm`, roots, failures), so
the other spans pay nothing for them. Nothing here depends on the licence.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must equal api/queries/common.py's MESSAGE_SEARCH_VECTOR / LOG_SEARCH_VECTOR (with the
# table alias dropped), or the planner cannot use the index.
MESSAGE_WORDS = (
    "(jsonb_to_tsvector('simple'::regconfig, coalesce(CASE jsonb_typeof(input_messages) "
    "WHEN 'array' THEN input_messages -> -1 ELSE input_messages END, 'null'::jsonb), "
    "'[\"string\"]'::jsonb) || jsonb_to_tsvector('simple'::regconfig, "
    "coalesce(output_messages, 'null'::jsonb), '[\"string\"]'::jsonb))"
)
LOG_WORDS = (
    "jsonb_to_tsvector('simple'::regconfig, coalesce(body, 'null'::jsonb), '[\"string\"]'::jsonb)"
)
_GROUP_TOTALS = "service_name, model, status_code, input_tokens, output_tokens, cost_usd"

# name -> (definition in 0005, definition before it; None where 0005 adds it)
INDEXES: dict[str, tuple[str, str | None]] = {
    "spans_root_time_idx": (
        "ON spans (start_time DESC) INCLUDE (trace_id, span_id, duration_ms, service_name) "
        "WHERE parent_span_id IS NULL",
        "ON spans (start_time DESC) WHERE parent_span_id IS NULL",
    ),
    "spans_root_duration_idx": (
        "ON spans (duration_ms DESC, trace_id DESC) INCLUDE (span_id, start_time, service_name) "
        "WHERE parent_span_id IS NULL",
        None,
    ),
    "spans_root_trace_idx": (
        "ON spans (trace_id, start_time) INCLUDE (span_id, duration_ms, service_name) "
        "WHERE parent_span_id IS NULL",
        None,
    ),
    "spans_model_time_idx": (
        "ON spans (model, start_time DESC) INCLUDE (trace_id) WHERE is_llm",
        "ON spans (model, start_time DESC) WHERE is_llm",
    ),
    "spans_provider_time_idx": (
        "ON spans (provider, start_time DESC) INCLUDE (trace_id) WHERE is_llm",
        "ON spans (provider, start_time DESC) WHERE is_llm",
    ),
    "spans_llm_trace_idx": (
        "ON spans (trace_id, start_time) INCLUDE (model, provider, user_id, conversation_id) "
        "WHERE is_llm",
        None,
    ),
    "spans_error_trace_idx": (
        "ON spans (trace_id, start_time) WHERE status_code = 'error'",
        None,
    ),
    "spans_llm_usage_idx": (
        "ON spans (start_time DESC) INCLUDE (model, provider, service_name, status_code, "
        "duration_ms, input_tokens, output_tokens, cost_usd, trace_id, conversation_id, "
        "user_id) WHERE is_llm",
        "ON spans (start_time DESC) INCLUDE (model, provider, service_name, status_code, "
        "duration_ms, input_tokens, output_tokens, cost_usd) WHERE is_llm",
    ),
    "spans_session_idx": (
        f"ON spans (conversation_id, start_time DESC) INCLUDE (trace_id, user_id, "
        f"{_GROUP_TOTALS}) WHERE is_llm AND conversation_id IS NOT NULL",
        None,
    ),
    "spans_user_idx": (
        f"ON spans (user_id, start_time DESC) INCLUDE (trace_id, conversation_id, "
        f"{_GROUP_TOTALS}) WHERE is_llm AND user_id IS NOT NULL",
        None,
    ),
    "spans_llm_search_idx": (f"ON spans USING gin ({MESSAGE_WORDS}) WHERE is_llm", None),
    "log_records_search_idx": (f"ON log_records USING gin ({LOG_WORDS})", None),
    # Warnings and worse are a few percent of the records: "at least error" must not
    # walk every INFO line to find none.
    "log_records_warning_time_idx": (
        "ON log_records (time DESC) INCLUDE (severity_number) WHERE severity_number >= 13",
        None,
    ),
}


def upgrade() -> None:
    # On a hypertable TimescaleDB creates each index on every chunk, and on new ones.
    for name, (definition, _) in INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute(f"CREATE INDEX {name} {definition}")


def downgrade() -> None:
    for name, (_, before) in INDEXES.items():
        op.execute(f"DROP INDEX IF EXISTS {name}")
        if before is not None:
            op.execute(f"CREATE INDEX {name} {before}")
