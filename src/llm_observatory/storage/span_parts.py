"""The few fields of each stored span that the summaries of spans are made of.

Storage's writer copies them, verbatim from the spans' COPY text (nothing decoded),
into a temporary table in the transaction that stores the spans; each summary
(storage/trace_summaries.py per trace, storage/call_rollups.py per hour and user)
then merges its aggregate of that table. A retried batch keeps the parts of only the
spans it actually inserted, so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from llm_observatory.core.rows import SPANS

TABLE = "_llmo_span_parts"

COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "start_time",
    "end_time",
    "duration_ms",
    "service_name",
    "name",
    "status_code",
    "is_llm",
    "model",
    "provider",
    "user_id",
    "conversation_id",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)
COLUMN_LIST = ", ".join(COLUMNS)
_POSITIONS = tuple(SPANS.column_names.index(name) for name in COLUMNS)
_SPLITS = max(_POSITIONS) + 1  # fields split off a row; the rest (messages) stays whole

CREATE_SQL = sql.SQL(
    f"CREATE TEMP TABLE IF NOT EXISTS {TABLE} ON COMMIT DELETE ROWS AS "
    f"SELECT {COLUMN_LIST} FROM spans WITH NO DATA"
)
COPY_SQL = sql.SQL(f"COPY {TABLE} ({COLUMN_LIST}) FROM STDIN")


def staged_sql(merge: sql.Composed) -> sql.Composed:
    """`merge` (staging -> spans, ON CONFLICT DO NOTHING) keeping the parts of the spans
    it inserted: a retried batch adds only what was not stored before."""
    return sql.SQL(
        "WITH inserted AS ({merge} RETURNING {cols}) "
        "INSERT INTO {parts} ({cols}) SELECT {cols} FROM inserted"
    ).format(merge=merge, cols=sql.SQL(COLUMN_LIST), parts=sql.SQL(TABLE))  # type: ignore[arg-type]


def parts(rows: Sequence[bytes]) -> bytes:
    """The COLUMNS fields of spans COPY rows, as COPY rows of the parts table."""
    lines = []
    for row in rows:
        fields = row.split(b"\t", _SPLITS)
        lines.append(b"\t".join([fields[i] for i in _POSITIONS]))
    return b"\n".join(lines) + b"\n"


def capped_tokens(total: str) -> str:
    """A token sum as bigint. Token counts are the client's numbers: a sum beyond bigint
    is held at its maximum rather than failing the batch (or the answer) that holds it."""
    return f"least(coalesce({total}, 0), {2**63 - 1})::bigint"
