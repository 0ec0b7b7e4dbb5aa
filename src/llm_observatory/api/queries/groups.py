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
from llm_observatory.api.queries.hours import calls_by_hours
from llm_observatory.api.schemas import (
    SessionDetail,
    SessionList,
    SessionSummary,
    Span,
    UserList,
    UserSummary,
)
from llm_observatory.storage.span_parts import capped_tokens

MAX_USERS_LISTED = 20

# A group's figures are aggregates over its calls `c`: LLM calls read from `spans`
# one by one (CALLS), or hours of them already summed (ROLLED_UP, for users only:
# storage/call_rollups.py). Field of a group's answer -> its aggregate.
_AGGREGATES: dict[str, str] = {
    "first_seen": "min(c.first_seen)",
    "last_seen": "max(c.last_seen)",
    "traces": "count(DISTINCT c.trace_id)::int",
    "sessions": "count(DISTINCT c.conversation_id)::int",
    "llm_calls": "sum(c.llm_calls)::int",
    "input_tokens": capped_tokens("sum(c.input_tokens)"),
    "output_tokens": capped_tokens("sum(c.output_tokens)"),
    "cost_usd": "coalesce(sum(c.cost_usd), 0)::float8",
    "errors": "sum(c.errors)::int",
    "users": (
        "coalesce((array_agg(DISTINCT c.user_id) FILTER (WHERE c.user_id IS NOT NULL))"
        f"[1:{MAX_USERS_LISTED}], ARRAY[]::text[])"
    ),
}
_CALLS = (
    "SELECT s.user_id, s.conversation_id, s.trace_id, s.start_time AS first_seen, "
    "s.start_time AS last_seen, 1 AS llm_calls, s.input_tokens, s.output_tokens, "
    "s.cost_usd, (s.status_code = 'error')::int AS errors FROM spans s WHERE s.is_llm"
)
_ROLLED_UP = (
    "SELECT s.user_id, s.conversation_id, NULL, s.first_seen, s.last_seen, s.llm_calls, "
    "s.input_tokens, s.output_tokens, s.cost_usd, s.errors FROM llm_call_rollups s WHERE true"
)

# Filters of the calls; the same columns in `spans` and in the rollups.
_FILTERS: dict[str, str] = {
    "service": "s.service_name = %(service)s",
    "user": "s.user_id = %(user)s",
    "model": "s.model = %(model)s",
}
_TIMES: dict[str, str] = {"start": "s.start_time >= %(start)s", "end": "s.start_time < %(end)s"}
_CALL_FILTERS = {**_FILTERS, **_TIMES}  # of `spans`, which has every call's time


@dataclass(frozen=True)
class Grouping:
    column: str  # spans column the calls are grouped by
    id_field: str  # the field of the answer that holds it
    model: type[BaseModel]
    rolled_up: bool  # whole hours are read from llm_call_rollups

    def select(self) -> sql.Composed:
        return select_list(self.model, "c", {**_AGGREGATES, self.id_field: f"c.{self.column}"})


SESSIONS = Grouping("conversation_id", "session_id", SessionSummary, rolled_up=False)
USERS = Grouping("user_id", "user_id", UserSummary, rolled_up=True)


def totals_sql(
    grouping: Grouping, filter: SessionFilter | UserFilter, who: str, params: dict[str, Any]
) -> sql.Composed:
    """The answers of the groups that `who` (a condition on `s`; its values in `params`,
    which gains the filter's) selects, over their calls within `filter`."""
    where, filter_params = _where(filter, _FILTERS)
    params.update(filter_params)
    calls = calls_by_hours(
        f"{_ROLLED_UP} AND {who} AND {where}",
        f"{_CALLS} AND {who} AND {where}",
        (filter.start, filter.end),
        params,
        split=grouping.rolled_up,
    )
    text = f"SELECT {{select}} FROM ({calls}) c GROUP BY c.{grouping.column}"
    return sql.SQL(text).format(select=grouping.select())  # type: ignore[arg-type]


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

FIRST_SCAN = 500  # calls read for the first try; each further try reads four times more


def _where(
    filter: SessionFilter | UserFilter, fragments: Mapping[str, str] = _CALL_FILTERS
) -> tuple[str, dict[str, Any]]:
    parts, params = [], {}
    for name, fragment in fragments.items():
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
        params: dict[str, Any] = {"ids": [r["id"] for r in page]}
        who = f"s.{grouping.column} = ANY(%(ids)s)"
        statement = totals_sql(grouping, query.filter, who, params)
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


def _one_sql(grouping: Grouping, group_id: str) -> tuple[sql.Composed, dict[str, Any]]:
    params: dict[str, Any] = {"id": group_id}
    filter = UserFilter() if grouping.rolled_up else SessionFilter()
    return totals_sql(grouping, filter, f"s.{grouping.column} = %(id)s", params), params


async def user_summary(db: Database, user_id: str) -> dict[str, Any] | None:
    rows = await db.fetch_all(*_one_sql(USERS, user_id))
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
            _one_sql(SESSIONS, session_id),
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
