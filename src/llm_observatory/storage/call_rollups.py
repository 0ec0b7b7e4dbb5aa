"""LLM calls summed per hour: by user and conversation, and by model with latency.

A page of the users list sums every call of its fifty users, all time: over 1,000,000
spans about 45,000 calls, mostly read from disk (docs/SCALING.md). `llm_call_rollups`
(CALLS) holds those sums per hour for each group of calls sharing service, provider,
model, user and conversation, so a user's figures are the sums of its rows and its
sessions the distinct conversations among them, exact, from a few rows per
conversation. The models list sums it by model and provider.

Usage over 24 hours (calls, tokens, cost, errors and latency percentiles per hour and
model, provider or service) read one day of LLM calls, about 70,000, from an index of
18 MB: fast once cached, 200 ms when read from disk. `llm_usage_rollups` (USAGE) holds
the same sums per hour and service, provider and model, split by latency bucket
(storage/latency_buckets.py), so percentiles merge too: a day is a few thousand rows.

Both are kept like the trace summaries: storage's writer merges the aggregate of the
parts of the spans it stores (storage/span_parts.py) in the transaction that stores
them, in key order, so concurrent writers never deadlock. The text columns of a key may
each be null and as long as MAX_NAME_LENGTH: too long together for an index entry, so
a row is unique by its hour, a SHA-256 of its text keys, length-prefixed so that no two
keys read alike, and its other key columns.

Deletion re-sums the hours and services it deleted from (`rebuild_sql`). Retention
drops every hour before the oldest span left (`EXPIRE_SQL`): chunks are whole UTC days,
so an hour's calls are either all dropped or all kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from psycopg import sql

from llm_observatory.storage import latency_buckets, span_parts
from llm_observatory.storage.span_parts import capped_tokens

# A day's chunk holds whole buckets (retention), and the API reads a time range's whole
# buckets from here and the rest from the calls (api/queries/groups.py, usage.py).
BUCKET = timedelta(hours=1)
INTERVAL = f"interval '{int(BUCKET.total_seconds())} seconds'"
_HOUR = f"time_bucket({INTERVAL}, p.start_time)"

# Row column -> (its aggregate over spans `p`, how a stored row and a new one merge).
_SUMS: dict[str, tuple[str, str]] = {
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
_SEEN: dict[str, tuple[str, str]] = {
    "first_seen": ("min(p.start_time)", "least(t.first_seen, EXCLUDED.first_seen)"),
    "last_seen": ("max(p.start_time)", "greatest(t.last_seen, EXCLUDED.last_seen)"),
}


@dataclass(frozen=True)
class Rollup:
    table: str
    key: tuple[str, ...]  # spans' text columns the calls of a row share (hashed)
    totals: Mapping[str, tuple[str, str]]
    # Further key columns, not hashed: name -> its expression over spans `p`.
    buckets: Mapping[str, str] = field(default_factory=dict)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("hour", "key_hash", *self.key, *self.buckets, *self.totals)

    def _key_hash(self, alias: str) -> str:
        # "<length>:<text>" or "-" (null) per column: a key is read back one way only.
        fields = " || ".join(
            f"coalesce(length({alias}.{c}) || ':' || {alias}.{c}, '-') || ';'" for c in self.key
        )
        return f"sha256(convert_to({fields}, 'UTF8'))"

    def insert(self, source: sql.Composable) -> sql.Composed:
        """Merge the rollups of the LLM calls of `source` (a FROM item naming spans `p`)."""
        key = ", ".join(f"p.{c}" for c in self.key)
        buckets = "".join(f", {expr} AS {name}" for name, expr in self.buckets.items())
        grouping = "".join(f", {expr}" for expr in self.buckets.values())
        totals = ", ".join(f"{agg} AS {name}" for name, (agg, _) in self.totals.items())
        grouped = ", ".join(f"g.{c}" for c in (*self.key, *self.buckets, *self.totals))
        merges = ", ".join(f"{name} = {merge}" for name, (_, merge) in self.totals.items())
        unique = ", ".join(("hour", "key_hash", *self.buckets))
        head = (
            f"INSERT INTO {self.table} AS t ({', '.join(self.columns)}) "
            f"SELECT g.hour, {self._key_hash('g')} AS key_hash, {grouped} FROM ("
            f"SELECT {_HOUR} AS hour, {key}{buckets}, {totals} FROM "
        )
        tail = (
            f" WHERE p.is_llm GROUP BY {_HOUR}, {key}{grouping}) g ORDER BY {unique} "
            f"ON CONFLICT ({unique}) DO UPDATE SET {merges}"
        )
        return sql.SQL(head) + source + sql.SQL(tail)  # type: ignore[arg-type]

    @property
    def merge_parts_sql(self) -> sql.Composed:
        return self.insert(sql.SQL(f"{span_parts.TABLE} p"))  # type: ignore[arg-type]

    def rebuild_sql(self, hours: sql.Composable | None) -> list[sql.Composable]:
        """Statements that make the rows of `hours` (a query of (hour, service_name)
        pairs; None: every hour) the sums of their calls now: run them in one
        transaction."""
        table = sql.Identifier(self.table)
        if hours is None:
            return [sql.SQL("DELETE FROM {}").format(table), self.insert(sql.SQL("spans p"))]
        return [
            sql.SQL(
                "DELETE FROM {} r USING ({}) h "
                "WHERE r.hour = h.hour AND r.service_name = h.service_name"
            ).format(table, hours),
            self.insert(
                sql.SQL(
                    "({}) h JOIN spans p ON p.service_name = h.service_name "
                    f"AND p.start_time >= h.hour AND p.start_time < h.hour + {INTERVAL}"
                ).format(hours)  # type: ignore[arg-type]
            ),
        ]

    @property
    def expire_sql(self) -> str:
        # No span left: every row goes.
        return (
            f"DELETE FROM {self.table} WHERE hour < coalesce(time_bucket({INTERVAL}, "
            "(SELECT min(start_time) FROM spans)), 'infinity'::timestamptz)"
        )


CALLS = Rollup(
    "llm_call_rollups",
    ("service_name", "provider", "model", "user_id", "conversation_id"),
    {**_SEEN, **_SUMS},
)
USAGE = Rollup(
    "llm_usage_rollups",
    ("service_name", "provider", "model"),
    _SUMS,
    {"latency_bucket": latency_buckets.bucket_sql("p.duration_ms")},
)
ROLLUPS = (CALLS, USAGE)

# The (hour, service) pairs of the spans a WHERE clause (over `spans`) selects: what
# every rollup is keyed by first.
TOUCHED_SQL = (
    f"SELECT DISTINCT time_bucket({INTERVAL}, start_time) AS hour, service_name "
    "FROM spans WHERE is_llm AND {where}"
)


def rebuild_sql(hours: sql.Composable | None) -> list[sql.Composable]:
    """Every rollup's `Rollup.rebuild_sql`."""
    return [statement for rollup in ROLLUPS for statement in rollup.rebuild_sql(hours)]
