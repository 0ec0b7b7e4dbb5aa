"""LLM calls summed per hour and per service, provider, model, user and conversation.

A page of the users list sums every call of its fifty users, all time: over 1,000,000
spans about 45,000 calls, mostly read from disk (docs/SCALING.md). `llm_call_rollups`
holds those sums per hour for each group of calls sharing service, provider, model,
user and conversation, so a user's figures are the sums of its rows and its sessions
the distinct conversations among them, exact, from a few rows per conversation. The
models list sums it by model and provider.

Kept like the trace summaries: storage's writer merges the aggregate of the parts of
the spans it stores (storage/span_parts.py) in the transaction that stores them, in
key order, so concurrent writers never deadlock. The five text columns of a key may
each be null and as long as MAX_NAME_LENGTH: too long together for an index entry, so
a row is unique by its hour and a SHA-256 of the five, length-prefixed so that no two
keys read alike.

Deletion re-sums the hours and services it deleted from (`rebuild_sql`). Retention
drops every hour before the oldest span left (`EXPIRE_SQL`): chunks are whole UTC days,
so an hour's calls are either all dropped or all kept.
"""

from __future__ import annotations

from datetime import timedelta

from psycopg import sql

from llm_observatory.storage import span_parts
from llm_observatory.storage.span_parts import capped_tokens

TABLE = "llm_call_rollups"
# A day's chunk holds whole buckets (retention), and the API reads a time range's whole
# buckets from here and the rest from the calls (api/queries/groups.py).
BUCKET = timedelta(hours=1)
_INTERVAL = f"interval '{int(BUCKET.total_seconds())} seconds'"
_HOUR = f"time_bucket({_INTERVAL}, p.start_time)"

# The calls of a row share these spans columns (and the hour).
KEY = ("service_name", "provider", "model", "user_id", "conversation_id")

# Row column -> (its aggregate over spans `p`, how a stored row and a new one merge).
TOTALS: dict[str, tuple[str, str]] = {
    "first_seen": ("min(p.start_time)", "least(t.first_seen, EXCLUDED.first_seen)"),
    "last_seen": ("max(p.start_time)", "greatest(t.last_seen, EXCLUDED.last_seen)"),
    "llm_calls": ("count(*)", "t.llm_calls + EXCLUDED.llm_calls"),
    "input_tokens": (
        capped_tokens("sum(p.input_tokens)"),
        capped_tokens("t.input_tokens::numeric + EXCLUDED.input_tokens"),
    ),
    "output_tokens": (
        capped_tokens("sum(p.output_tokens)"),
        capped_tokens("t.output_tokens::numeric + EXCLUDED.output_tokens"),
    ),
    "cost_usd": ("coalesce(sum(p.cost_usd), 0)", "t.cost_usd + EXCLUDED.cost_usd"),
    "errors": ("count(*) FILTER (WHERE p.status_code = 'error')", "t.errors + EXCLUDED.errors"),
}

COLUMNS = ("hour", "key_hash", *KEY, *TOTALS)


def _key_hash(alias: str) -> str:
    # "<length>:<text>" or "-" (null) per column: a key is read back one way only.
    fields = " || ".join(
        f"coalesce(length({alias}.{c}) || ':' || {alias}.{c}, '-') || ';'" for c in KEY
    )
    return f"sha256(convert_to({fields}, 'UTF8'))"


def _insert(source: sql.Composable) -> sql.Composed:
    """Merge the rollups of the LLM calls of `source` (a FROM item naming spans `p`)."""
    key = ", ".join(f"p.{c}" for c in KEY)
    totals = ", ".join(f"{agg} AS {name}" for name, (agg, _) in TOTALS.items())
    grouped = ", ".join(f"g.{c}" for c in (*KEY, *TOTALS))
    merges = ", ".join(f"{name} = {merge}" for name, (_, merge) in TOTALS.items())
    head = (
        f"INSERT INTO {TABLE} AS t ({', '.join(COLUMNS)}) "
        f"SELECT g.hour, {_key_hash('g')} AS key_hash, {grouped} FROM ("
        f"SELECT {_HOUR} AS hour, {key}, {totals} FROM "
    )
    tail = (
        f" WHERE p.is_llm GROUP BY {_HOUR}, {key}) g ORDER BY 1, 2 "
        f"ON CONFLICT (hour, key_hash) DO UPDATE SET {merges}"
    )
    return sql.SQL(head) + source + sql.SQL(tail)  # type: ignore[arg-type]


MERGE_PARTS_SQL = _insert(sql.SQL(f"{span_parts.TABLE} p"))  # type: ignore[arg-type]

# The (hour, service) pairs of the spans a WHERE clause (over `spans`) selects.
TOUCHED_SQL = (
    f"SELECT DISTINCT time_bucket({_INTERVAL}, start_time) AS hour, service_name "
    "FROM spans WHERE is_llm AND {where}"
)


def rebuild_sql(hours: sql.Composable | None) -> list[sql.Composable]:
    """Statements that make the rows of `hours` (a query of (hour, service_name) pairs;
    None: every hour) the sums of their calls now: run them in one transaction."""
    table = sql.Identifier(TABLE)
    if hours is None:
        return [sql.SQL("DELETE FROM {}").format(table), _insert(sql.SQL("spans p"))]
    return [
        sql.SQL(
            "DELETE FROM {} r USING ({}) h "
            "WHERE r.hour = h.hour AND r.service_name = h.service_name"
        ).format(table, hours),
        _insert(
            sql.SQL(
                "({}) h JOIN spans p ON p.service_name = h.service_name "
                f"AND p.start_time >= h.hour AND p.start_time < h.hour + {_INTERVAL}"
            ).format(hours)  # type: ignore[arg-type]
        ),
    ]


# No span left: every row goes.
EXPIRE_SQL = (
    f"DELETE FROM {TABLE} WHERE hour < coalesce(time_bucket({_INTERVAL}, "
    "(SELECT min(start_time) FROM spans)), 'infinity'::timestamptz)"
)
