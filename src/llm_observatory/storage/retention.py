"""Data retention: RETENTION_DAYS (default 30; 0 = keep forever) on the hypertables.

Two paths, chosen by the TimescaleDB licence (``current_setting('timescaledb.license')``):

- ``'timescale'`` (community build, the upstream image): a retention policy per hypertable
  (``add_retention_policy``), run by TimescaleDB's job scheduler. ``ensure_retention_policy``
  makes it match RETENTION_DAYS at every start-up (adds, replaces or removes it).
- ``'apache'`` (e.g. Debian's build): policies are not available, so the storage service
  drops old chunks itself with ``apply_retention`` (``drop_chunks``), at start-up and then
  periodically (hourly is plenty with 1-day chunks).

``enforce_retention`` does the right one. Chunks are 1 day, so data lives between
RETENTION_DAYS and RETENTION_DAYS + 1 days. Both paths need the owner of the tables
(DB_USER, the migration user): the app role may not drop chunks or manage jobs.
``llm_usage_hourly`` keeps no data of its own on the Apache path (it is a view); on the
licensed path it is a continuous aggregate whose materialised hours outlive raw spans.
``trace_summaries`` and ``llm_call_rollups`` are no hypertables: after either path, the
summaries of traces whose spans are all gone and the rollups of the hours before the
oldest span left are deleted (``expire_summaries``).

The functions take a ``psycopg.AsyncConnection`` (the maintenance service's) and open
(or nest in) a transaction themselves.
"""

from __future__ import annotations

from typing import Literal

import psycopg

from llm_observatory.core.signals import SIGNALS
from llm_observatory.storage import call_rollups

HYPERTABLES = (*(signal.table.table for signal in SIGNALS.values()), "rejected_records")

RetentionMode = Literal["policy", "drop_chunks"]

LICENCE_SQL = "SELECT current_setting('timescaledb.license', true)"

DROP_CHUNKS_SQL = (
    "SELECT count(*) FROM drop_chunks(%(table)s::regclass, "
    "older_than => make_interval(days => %(days)s::int))"
)

# The existing retention job of a hypertable and whether it already drops after `days`.
EXISTING_POLICY_SQL = """
    SELECT job_id, (config->>'drop_after')::interval = make_interval(days => %(days)s::int)
    FROM timescaledb_information.jobs
    WHERE proc_name = 'policy_retention'
      AND hypertable_schema = current_schema()
      AND hypertable_name = %(table)s
"""
REMOVE_POLICY_SQL = "SELECT remove_retention_policy(%(table)s::regclass, if_exists => true)"
ADD_POLICY_SQL = (
    "SELECT add_retention_policy(%(table)s::regclass, "
    "drop_after => make_interval(days => %(days)s::int), if_not_exists => true)"
)


def _check_days(days: int) -> int:
    days = int(days)
    if days < 0:
        raise ValueError(f"RETENTION_DAYS must be >= 0 (0 = keep forever), got {days}")
    return days


def _mode(licence: str | None) -> RetentionMode:
    return "policy" if licence == "timescale" else "drop_chunks"


def _policy_statements(
    days: int, existing: tuple[int, bool] | None
) -> list[str]:  # what to run for one table
    if days == 0:
        return [REMOVE_POLICY_SQL] if existing else []
    if existing is None:
        return [ADD_POLICY_SQL]
    if existing[1]:
        return []
    return [REMOVE_POLICY_SQL, ADD_POLICY_SQL]


async def licence(conn: psycopg.AsyncConnection) -> str:
    cur = await conn.execute(LICENCE_SQL)
    row = await cur.fetchone()
    return (row[0] if row else None) or "apache"


async def retention_mode(conn: psycopg.AsyncConnection) -> RetentionMode:
    """'policy' where TimescaleDB runs retention jobs, else 'drop_chunks' (we drop)."""
    return _mode(await licence(conn))


# No span left: every summary goes.
EXPIRE_SUMMARIES_SQL = (
    "DELETE FROM trace_summaries WHERE last_seen < "
    "coalesce((SELECT min(start_time) FROM spans), 'infinity'::timestamptz)"
)


async def apply_retention(conn: psycopg.AsyncConnection, days: int) -> int:
    """Drop chunks wholly older than `days` from each hypertable; returns chunks dropped."""
    days = _check_days(days)
    if days == 0:
        return 0
    dropped = 0
    async with conn.transaction():
        for table in HYPERTABLES:
            cur = await conn.execute(DROP_CHUNKS_SQL, {"table": table, "days": days})
            row = await cur.fetchone()
            dropped += int(row[0]) if row else 0
    return dropped


async def ensure_retention_policy(conn: psycopg.AsyncConnection, days: int) -> None:
    """Licensed path: make each hypertable's retention policy match `days` (0 removes it)."""
    days = _check_days(days)
    async with conn.transaction():
        for table in HYPERTABLES:
            params = {"table": table, "days": days}
            cur = await conn.execute(EXISTING_POLICY_SQL, params)
            row = await cur.fetchone()
            existing = (int(row[0]), bool(row[1])) if row else None
            for statement in _policy_statements(days, existing):
                await conn.execute(statement, params)


async def expire_summaries(conn: psycopg.AsyncConnection) -> tuple[int, ...]:
    """Delete what summed the spans retention dropped (in either mode): the summaries of
    traces whose last span started before the oldest span left, and the rows of each
    call rollup of the hours before it. Returns (trace summaries, *rollup rows) deleted,
    in the order of call_rollups.ROLLUPS."""
    deleted = []
    async with conn.transaction():
        for statement in (EXPIRE_SUMMARIES_SQL, *(r.expire_sql for r in call_rollups.ROLLUPS)):
            cur = await conn.execute(statement)
            deleted.append(max(cur.rowcount, 0))
    return tuple(deleted)


async def enforce_retention(conn: psycopg.AsyncConnection, days: int) -> tuple[RetentionMode, int]:
    """Policy where licensed, else drop now: (mode, chunks dropped)."""
    mode = await retention_mode(conn)
    if mode == "policy":
        await ensure_retention_policy(conn, days)
        dropped = 0
    else:
        dropped = await apply_retention(conn, days)
    if days:
        await expire_summaries(conn)
    return mode, dropped
