"""The full-text indexes over prompts, completions and log bodies, kept as ENABLE_TEXT_SEARCH says.

Migration 0005 creates them; maintenance drops them when ENABLE_TEXT_SEARCH is false
and creates them again when it is true, at start-up and every MAINTENANCE_INTERVAL.
They are what makes `q=` fast, and most of what an LLM span costs the database at
ingest: computing the words of ~2.5 KB of messages and adding ~200 GIN entries took
about 300 of the 400 µs of database CPU per row on the ingest benchmark
(docs/INGEST.md).

The definitions must stay those of 0005 (a test compares them): the API's queries
(api/queries/common.py) are written with the same expressions, or the planner
cannot use the indexes.
"""

from __future__ import annotations

from typing import Any

# The words of a call's prompt and completion: only string values (message text, tool
# arguments and results), not JSON keys; of the input only the newest message (the
# call's prompt, or the tool result it answers): the system prompt and the earlier
# turns repeat in every call of a conversation and are indexed with the calls that
# wrote them (indexing them again made ingest four times slower). `{t}` is the
# table's alias in the API's queries (api/queries/common.py), nothing in the index.
MESSAGE_WORDS_OF = (
    "(jsonb_to_tsvector('simple'::regconfig, coalesce(CASE jsonb_typeof({t}.input_messages) "
    "WHEN 'array' THEN {t}.input_messages -> -1 ELSE {t}.input_messages END, 'null'::jsonb), "
    "'[\"string\"]'::jsonb) || jsonb_to_tsvector('simple'::regconfig, "
    "coalesce({t}.output_messages, 'null'::jsonb), '[\"string\"]'::jsonb))"
)
LOG_WORDS_OF = (
    "jsonb_to_tsvector('simple'::regconfig, coalesce({t}.body, 'null'::jsonb), "
    "'[\"string\"]'::jsonb)"
)


def unaliased(template: str) -> str:
    return template.replace("{t}.", "")


# name -> (the table and its words, the rows indexed)
SEARCH_INDEXES: dict[str, tuple[str, str]] = {
    "spans_llm_search_idx": (
        f"ON spans USING gin ({unaliased(MESSAGE_WORDS_OF)})",
        "WHERE is_llm",
    ),
    "log_records_search_idx": (f"ON log_records USING gin ({unaliased(LOG_WORDS_OF)})", ""),
}

# On a hypertable, one transaction per chunk: ingest into the other chunks goes on
# while an index is built over existing data.
_PER_CHUNK = "WITH (timescaledb.transaction_per_chunk)"


async def keep_search_indexes(conn: Any, enabled: bool) -> list[str]:
    """Create or drop the indexes so that they exist exactly when `enabled`; what changed.

    `conn`: an autocommit psycopg AsyncConnection as the schema's owner.
    """
    changed = []
    for name, (target, rows) in SEARCH_INDEXES.items():
        cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,))
        (exists,) = await cursor.fetchone()
        if enabled and not exists:
            await conn.execute(f"CREATE INDEX IF NOT EXISTS {name} {target} {_PER_CHUNK} {rows}")
            changed.append(f"created {name}")
        elif not enabled and exists:
            await conn.execute(f"DROP INDEX IF EXISTS {name}")
            changed.append(f"dropped {name}")
    return changed
