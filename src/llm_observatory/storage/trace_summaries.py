"""One row per trace: its root, its totals and the values its spans are filtered by.

The traces list filters by what some span of a trace has (a model, a user, an error)
and sorts by what only the whole trace has (its cost). Over `spans` that meant
reading every span of every candidate trace: over 1,000,000 spans a cost sort took
1-3 s. `trace_summaries` holds the answer per trace, kept by storage's writer in the
transaction that stores the spans, so the list reads one indexed row per trace and
is exact the moment spans are committed.

Kept how: storage's writer merges the aggregate of the parts of the spans it stores
(storage/span_parts.py) into `trace_summaries` (UPSERT). Counts and sums add up; the root is the
earliest span without a parent (it may arrive after its children); the value sets
(models, providers, users, conversations of the LLM calls) are unions within a byte
budget each (VALUE_SETS), so one hostile trace with a million distinct user ids, or
model names too long for an index entry, stays one small row and fails no span: it is
then found by the values that fit, the stored ones kept first. Rows are merged in
trace id order, so concurrent writers never deadlock on them.

The same aggregate rebuilds the rows of chosen traces from `spans` (`rebuild_sql`):
after a deletion, and for the data already stored when migration 0008 ran. Retention
deletes the rows of traces whose spans it dropped (storage/retention.py).
"""

from __future__ import annotations

from psycopg import sql

from llm_observatory.storage import span_parts
from llm_observatory.storage.span_parts import capped_tokens

TABLE = "trace_summaries"

# The root span's columns in a summary, as (summary column, spans column).
ROOT = (
    ("root_span_id", "span_id"),
    ("root_name", "name"),
    ("service_name", "service_name"),
    ("start_time", "start_time"),
    ("duration_ms", "duration_ms"),
)


# Summary column -> (its aggregate over spans `p`, how a stored row and a new one merge).
TOTALS: dict[str, tuple[str, str]] = {
    "first_seen": ("min(p.start_time)", "least(t.first_seen, EXCLUDED.first_seen)"),
    "last_seen": ("max(p.start_time)", "greatest(t.last_seen, EXCLUDED.last_seen)"),
    "last_end": ("max(p.end_time)", "greatest(t.last_end, EXCLUDED.last_end)"),
    "span_count": ("count(*)::int", "t.span_count + EXCLUDED.span_count"),
    "llm_calls": (
        "(count(*) FILTER (WHERE p.is_llm))::int",
        "t.llm_calls + EXCLUDED.llm_calls",
    ),
    "input_tokens": (
        capped_tokens("sum(p.input_tokens) FILTER (WHERE p.is_llm)"),
        capped_tokens("t.input_tokens::numeric + EXCLUDED.input_tokens"),
    ),
    "output_tokens": (
        capped_tokens("sum(p.output_tokens) FILTER (WHERE p.is_llm)"),
        capped_tokens("t.output_tokens::numeric + EXCLUDED.output_tokens"),
    ),
    "cost_usd": (
        "coalesce(sum(p.cost_usd) FILTER (WHERE p.is_llm), 0)",
        "t.cost_usd + EXCLUDED.cost_usd",
    ),
    "has_error": (
        "coalesce(bool_or(p.status_code = 'error'), false)",
        "t.has_error OR EXCLUDED.has_error",
    ),
}
# Summary column -> (the spans column whose values, of LLM calls, it holds; the bytes
# the set may take). Models and providers are also in the list's btree indexes, whose
# entries hold at most ~2.7 kB with a root service name of up to MAX_NAME_LENGTH
# (2,048): their budgets keep an entry within that whatever clients send.
VALUE_SETS: dict[str, tuple[str, int]] = {
    "models": ("model", 320),
    "providers": ("provider", 96),
    "user_ids": ("user_id", 8192),
    "conversation_ids": ("conversation_id", 8192),
}


def _fit(values: str, budget: int) -> str:
    """The leading values of an array that fit `budget` bytes (4 of them per value for
    its length), sorted."""
    return (
        f"ARRAY(SELECT v FROM (SELECT v, sum(octet_length(v) + 4) OVER (ORDER BY i) AS used "
        f"FROM unnest({values}) WITH ORDINALITY AS u(v, i)) f WHERE used <= {budget} ORDER BY v)"
    )


def _value_set(column: str, budget: int) -> str:
    values = f"array_agg(DISTINCT p.{column}) FILTER (WHERE p.is_llm AND p.{column} IS NOT NULL)"
    return _fit(f"coalesce({values}, '{{}}')", budget)


def _merge_set(name: str, budget: int) -> str:
    # Nearly always the stored set holds the new values already: keep it as it is.
    # Otherwise the stored values first, so that none of them is ever dropped.
    added = f"ARRAY(SELECT v FROM unnest(EXCLUDED.{name}) v WHERE NOT v = ANY(t.{name}))"
    merged = _fit(f"t.{name} || {added}", budget)
    return f"CASE WHEN t.{name} @> EXCLUDED.{name} THEN t.{name} ELSE {merged} END"


COLUMNS = (
    "trace_id",
    *(name for name, _ in ROOT),
    *TOTALS,
    *VALUE_SETS,
)


def _aggregate() -> tuple[str, str]:
    """The summaries of spans: the SQL before and after the relation they are read from
    (one with spans' column names)."""
    root = ", ".join(f"r.{column} AS {name}" for name, column in ROOT)
    totals = ", ".join(f"{agg} AS {name}" for name, (agg, _) in TOTALS.items())
    sets = ", ".join(f"{_value_set(c, size)} AS {name}" for name, (c, size) in VALUE_SETS.items())
    summed = ", ".join(f"totals.{n}" for n in (*TOTALS, *VALUE_SETS))
    before = f"WITH p AS (SELECT {span_parts.COLUMN_LIST} FROM "
    after = (
        f"), totals AS (SELECT p.trace_id, {totals}, {sets} FROM p GROUP BY p.trace_id), "
        "roots AS (SELECT DISTINCT ON (p.trace_id) p.* FROM p WHERE p.parent_span_id IS NULL "
        "ORDER BY p.trace_id, p.start_time, p.span_id) "
        f"SELECT totals.trace_id, {root}, {summed} "
        "FROM totals LEFT JOIN roots r ON r.trace_id = totals.trace_id ORDER BY totals.trace_id"
    )
    return before, after


def _merge() -> str:
    # The new root wins when it is earlier (or the first root seen).
    earlier = (
        "EXCLUDED.start_time IS NOT NULL AND (t.start_time IS NULL OR "
        "(EXCLUDED.start_time, EXCLUDED.root_span_id) < (t.start_time, t.root_span_id))"
    )
    sets = [
        *(
            f"{name} = CASE WHEN {earlier} THEN EXCLUDED.{name} ELSE t.{name} END"
            for name, _ in ROOT
        ),
        *(f"{name} = {merge}" for name, (_, merge) in TOTALS.items()),
        *(f"{name} = {_merge_set(name, size)}" for name, (_, size) in VALUE_SETS.items()),
    ]
    return f"ON CONFLICT (trace_id) DO UPDATE SET {', '.join(sets)}"


def _insert(source: sql.Composable) -> sql.Composed:
    """Merge the summaries of the spans of `source` into the table."""
    before, after = _aggregate()
    head = f"INSERT INTO {TABLE} AS t ({', '.join(COLUMNS)}) {before}"
    return sql.SQL(head) + source + sql.SQL(f"{after} {_merge()}")  # type: ignore[arg-type]


MERGE_PARTS_SQL = _insert(sql.Identifier(span_parts.TABLE))


def rebuild_sql(trace_ids: sql.Composable | None) -> list[sql.Composable]:
    """Statements that make the summaries of `trace_ids` (a query of trace ids; None:
    every trace) those of their spans now: run them in one transaction. A trace without
    spans left loses its row. Concurrent writes are counted once: the INSERT's snapshot
    either holds a writer's committed spans (its merge was deleted with the row) or not
    (its merge comes after)."""
    chosen: sql.Composable = sql.SQL("")
    if trace_ids is not None:
        chosen = sql.SQL(" WHERE trace_id IN ({})").format(trace_ids)
    return [
        sql.SQL("DELETE FROM {}").format(sql.Identifier(TABLE)) + chosen,
        _insert(sql.SQL("spans") + chosen),
    ]
