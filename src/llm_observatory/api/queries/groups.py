"""Sessions and users: LLM calls grouped by conversation id or by user id.

Filters select the LLM calls (service, user, model, time range); a group is listed
when it has a selected call, with figures over its selected calls. Groups come most
recently active first: by the start of their last call, then by id (keyset pages).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from pydantic import BaseModel

from llm_observatory.api.database import Database
from llm_observatory.api.params import (
    MAX_SESSION_CALLS,
    Cursor,
    PageQuery,
    SessionFilter,
    UserFilter,
)
from llm_observatory.api.queries.common import SPAN_EXPRESSIONS, page_rows, select_list
from llm_observatory.api.schemas import (
    SessionDetail,
    SessionList,
    SessionSummary,
    Span,
    UserList,
    UserSummary,
)

MAX_USERS_LISTED = 20

# Field of a group's answer -> its aggregate over the group's LLM calls (alias s).
_AGGREGATES: dict[str, str] = {
    "first_seen": "min(s.start_time)",
    "last_seen": "max(s.start_time)",
    "traces": "count(DISTINCT s.trace_id)::int",
    "sessions": "count(DISTINCT s.conversation_id)::int",
    "llm_calls": "count(*)::int",
    "input_tokens": "coalesce(sum(s.input_tokens), 0)::bigint",
    "output_tokens": "coalesce(sum(s.output_tokens), 0)::bigint",
    "cost_usd": "coalesce(sum(s.cost_usd), 0)::float8",
    "errors": "(count(*) FILTER (WHERE s.status_code = 'error'))::int",
    "users": (
        "coalesce((array_agg(DISTINCT s.user_id) FILTER (WHERE s.user_id IS NOT NULL))"
        f"[1:{MAX_USERS_LISTED}], ARRAY[]::text[])"
    ),
}

_FILTERS: dict[str, str] = {
    "service": "s.service_name = %(service)s",
    "user": "s.user_id = %(user)s",
    "model": "s.model = %(model)s",
    "start": "s.start_time >= %(start)s",
    "end": "s.start_time < %(end)s",
}


@dataclass(frozen=True)
class Grouping:
    column: str  # spans column the calls are grouped by
    id_field: str  # the field of the answer that holds it
    model: type[BaseModel]

    def select(self) -> sql.Composed:
        return select_list(self.model, "s", {**_AGGREGATES, self.id_field: f"s.{self.column}"})


SESSIONS = Grouping("conversation_id", "session_id", SessionSummary)
USERS = Grouping("user_id", "user_id", UserSummary)

# The most recently active groups, without summing every group: walking the LLM calls
# newest first, a group's first call met is its last one. So the groups met among the
# newest `scan` calls, with a last call newer than the oldest call read, come before
# every group not met. Each met group's true last call (it may be newer than a
# cursor's time: then it was on an earlier page) is looked up by its own index.
_RECENT_GROUPS = """
WITH recent AS MATERIALIZED (
    SELECT s.{column} AS id, s.start_time FROM spans s
    WHERE s.is_llm AND s.{column} IS NOT NULL AND {where}{bound}
    ORDER BY s.start_time DESC LIMIT %(scan)s
), edge AS (
    SELECT count(*) AS scanned, min(start_time) AS oldest FROM recent
), seen AS (
    SELECT i.id, l.last_seen
    FROM (SELECT DISTINCT id FROM recent) i
    CROSS JOIN LATERAL (
        SELECT max(s.start_time) AS last_seen FROM spans s
        WHERE s.is_llm AND s.{column} = i.id AND {where}
    ) l
)
SELECT edge.scanned, edge.oldest, g.id, g.last_seen
FROM edge LEFT JOIN LATERAL (
    SELECT seen.id, seen.last_seen FROM seen
    WHERE {after}
    ORDER BY seen.last_seen DESC, seen.id DESC
    LIMIT %(limit)s
) g ON true
"""

_GROUP_TOTALS = """
SELECT {select} FROM spans s
WHERE s.is_llm AND s.{column} = ANY(%(ids)s) AND {where}
GROUP BY s.{column}
"""
FIRST_SCAN = 500  # calls read for the first try; each further try reads four times more


def _where(filter: SessionFilter | UserFilter) -> tuple[str, dict[str, Any]]:
    parts, params = [], {}
    for name, fragment in _FILTERS.items():
        value = getattr(filter, name, None)
        if value is not None:
            parts.append(fragment)
            params[name] = value
    return " AND ".join(parts) or "true", params


def recent_groups_sql(
    grouping: Grouping, query: PageQuery, scan: int
) -> tuple[sql.Composed, dict[str, Any]]:
    where, params = _where(query.filter)
    params.update(limit=query.limit + 1, scan=scan)
    bound, after = "", "true"
    if query.after is not None:
        bound = " AND s.start_time <= %(after_key)s"
        after = "(seen.last_seen, seen.id) < (%(after_key)s, %(after_id)s)"
        params["after_key"] = query.after.key
        params["after_id"] = query.after.id
    text = _RECENT_GROUPS.format(column=grouping.column, where=where, bound=bound, after=after)
    statement = sql.SQL(text)  # type: ignore[arg-type]
    return statement, params


async def _recent_ids(db: Database, grouping: Grouping, query: PageQuery) -> list[dict]:
    """Ids and last-call times of the page's groups (one more: is there a next page?)."""
    scan = FIRST_SCAN
    while True:
        statement, params = recent_groups_sql(grouping, query, scan)
        rows = await db.fetch_all(statement, params)
        exhausted = rows[0]["scanned"] < scan
        found = [r for r in rows if r["id"] is not None]
        final = found if exhausted else [r for r in found if r["last_seen"] > r["oldest"]]
        if exhausted or len(final) > query.limit:
            return final
        scan *= 4


async def _group_page(db: Database, grouping: Grouping, query: PageQuery) -> dict[str, Any]:
    page = await _recent_ids(db, grouping, query)
    rows: list[dict[str, Any]] = []
    if page:
        where, params = _where(query.filter)
        params["ids"] = [r["id"] for r in page]
        text = _GROUP_TOTALS.format(
            select=grouping.select().as_string(None), column=grouping.column, where=where
        )
        statement = sql.SQL(text)  # type: ignore[arg-type]
        totals = {r[grouping.id_field]: r for r in await db.fetch_all(statement, params)}
        rows = [totals[r["id"]] for r in page if r["id"] in totals]
    rows, more = page_rows(rows, query.limit)
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = Cursor(last["last_seen"], last[grouping.id_field]).encode(query.kind)
    return {"items": rows, "next_cursor": next_cursor}


async def list_sessions(db: Database, query: PageQuery) -> SessionList:
    return SessionList.model_validate(await _group_page(db, SESSIONS, query))


async def list_users(db: Database, query: PageQuery) -> UserList:
    return UserList.model_validate(await _group_page(db, USERS, query))


_GROUP_ONE = """
SELECT {select} FROM spans s
WHERE s.is_llm AND s.{column} = %(id)s
GROUP BY s.{column}
"""


def _one_sql(grouping: Grouping) -> sql.Composed:
    return sql.SQL(_GROUP_ONE).format(select=grouping.select(), column=sql.SQL(grouping.column))


async def user_summary(db: Database, user_id: str) -> dict[str, Any] | None:
    rows = await db.fetch_all(_one_sql(USERS), {"id": user_id})
    return rows[0] if rows else None


# --- one session ------------------------------------------------------------------------

_SESSION_CALLS = sql.SQL(
    "SELECT {columns} FROM spans s WHERE s.is_llm AND s.conversation_id = %(id)s "
    "ORDER BY s.start_time, s.span_id LIMIT %(limit)s"
).format(columns=select_list(Span, "s", SPAN_EXPRESSIONS))

# The roots of the session's traces, from their summaries (storage/trace_summaries.py).
_SESSION_ROOTS = """
SELECT trace_id, root_name, service_name AS service, start_time FROM trace_summaries
WHERE trace_id = ANY(%(trace_ids)s) AND start_time IS NOT NULL
"""


def _session_traces(
    calls: list[dict[str, Any]], roots: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    traces: dict[str, dict[str, Any]] = {}
    for call in calls:
        trace = traces.get(call["trace_id"])
        if trace is None:
            root = roots.get(call["trace_id"], {})
            trace = traces[call["trace_id"]] = {
                "trace_id": call["trace_id"],
                "root_name": root.get("root_name"),
                "service": root.get("service"),
                "start_time": root.get("start_time", call["start_time"]),
                "calls": [],
            }
        trace["calls"].append(call)
    return sorted(traces.values(), key=lambda t: (t["start_time"], t["trace_id"]))


async def get_session(db: Database, session_id: str) -> SessionDetail | None:
    summary, calls = await db.fetch_many(
        [
            (_one_sql(SESSIONS), {"id": session_id}),
            (_SESSION_CALLS, {"id": session_id, "limit": MAX_SESSION_CALLS + 1}),
        ]
    )
    if not summary:
        return None
    calls, truncated = page_rows(calls, MAX_SESSION_CALLS)
    trace_ids = sorted({call["trace_id"] for call in calls})
    roots = await db.fetch_all(_SESSION_ROOTS, {"trace_ids": trace_ids})
    return SessionDetail.model_validate(
        {
            "session": summary[0],
            "traces": _session_traces(calls, {r["trace_id"]: r for r in roots}),
            "truncated": truncated,
        }
    )
