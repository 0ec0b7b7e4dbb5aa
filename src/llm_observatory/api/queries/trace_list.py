"""The traces list: filters, search, three sorts, keyset pages, fast on any mix.

A trace is listed by its root span (parent_span_id IS NULL). Root filters (service,
time range) and the sort key are the root's; span filters (provider, model, user,
session, search text, status) match when some span of the trace matches.

`spans` is a hypertable by start time, and a lookup by trace_id has no time to prune
chunks by: it probes every chunk. So span filters are answered in one of two ways,
both exact, and the cheaper is tried first:

1. probe: walk the roots in sort order and probe each root's trace for the span
   filters, at most PROBE_BUDGET roots. Fast when matches are common: a page is
   found after a few hundred roots.
2. hashed: when the budget ran out before a page was full, each span filter becomes
   the set of trace ids of its matching spans (read from an index on the filter's
   column, with the trace id included), and the roots in sort order are checked
   against these sets in memory. Fast when matches are rare: the sets are small.

Sorting by cost needs every candidate's total, so it always aggregates the LLM calls
of the time range by trace (index-only) and then sorts.

A span counts for its trace's filters when it starts from SPREAD_BEFORE before to
SPREAD_AFTER after the root (a trace's spans start close to its root; the window
also lets a probe read only the chunks around the root). Both ways apply this same
rule, so they agree. Costs for the cost sort are summed over the LLM calls that
start in the time range widened by the same window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from psycopg import sql

from llm_observatory.api.database import Database
from llm_observatory.api.params import Cursor, TraceQuery
from llm_observatory.api.queries.common import MESSAGE_SEARCH_VECTOR, SEARCH_QUERY, expression
from llm_observatory.api.schemas import TraceList

PROBE_BUDGET = 1_000
SEARCH_PROBE_BUDGET = 400  # a search probe computes the words of each call: costlier
FEW_CANDIDATES = 20_000  # up to this many, candidates' roots are looked up one by one
COMMON_SEARCH = 5_000  # search words in more calls than this are probed, not gathered
SPREAD_BEFORE = timedelta(minutes=5)  # clocks of different services disagree a little
SPREAD_AFTER = timedelta(hours=1)

# Span filters: the condition on a span `x`, by filter name, the usually rarest first
# (the hashed way starts from the first present).
_SPAN_FILTERS: dict[str, str] = {
    "session": "x.is_llm AND x.conversation_id = %(session)s",
    "user": "x.is_llm AND x.user_id = %(user)s",
    "q": f"x.is_llm AND {expression(MESSAGE_SEARCH_VECTOR, 'x')} @@ {SEARCH_QUERY}",
    # status=error: a span failed; status=ok: none did (the negated set).
    "status": "x.status_code = 'error'",
    "model": "x.is_llm AND x.model = %(model)s",
    "provider": "x.is_llm AND x.provider = %(provider)s",
}
_ROOT_FILTERS: dict[str, str] = {
    "service": "r.service_name = %(service)s",
    "start": "r.start_time >= %(start)s",
    "end": "r.start_time < %(end)s",
}
# A span belongs to its root's trace for filtering when it starts in this window
# around the root: probes then read the one or two chunks of that window.
_NEAR_ROOT = (
    "{x}.start_time >= r.start_time - %(spread_before)s "
    "AND {x}.start_time < r.start_time + %(spread_after)s"
)
_RANGE = {
    "start": "x.start_time >= %(start)s - %(spread_before)s",
    "end": "x.start_time < %(end)s + %(spread_after)s",
}

_SORT_KEYS = {"time": "r.start_time", "duration": "r.duration_ms", "cost": "sort_cost"}
_SORT_TYPES = {"time": "timestamptz", "duration": "float8", "cost": "numeric"}
_CURSOR_FIELDS = {"time": "start_time", "duration": "duration_ms", "cost": "sort_cost"}

# Columns of a candidate: enough to order it and to find its root row again.
_CANDIDATE = "r.trace_id, r.span_id, r.start_time, r.duration_ms"

# The page: each candidate's root row and its totals over its spans (those in the
# window around the root). A trace with two parentless spans is listed by the
# earliest only.
_DETAILS = """
SELECT c.trace_id, root.name AS root_name, root.service_name AS service, c.start_time,
       c.duration_ms, t.span_count, t.llm_calls, t.input_tokens, t.output_tokens,
       {cost} AS cost_usd,
       CASE WHEN t.has_error THEN 'error' ELSE 'ok' END AS status,
       {sort_cost} AS sort_cost{extra}
FROM ({candidates}) c
JOIN spans root
  ON root.trace_id = c.trace_id AND root.span_id = c.span_id AND root.start_time = c.start_time
CROSS JOIN LATERAL (
    SELECT count(*)::int AS span_count,
           (count(*) FILTER (WHERE s.is_llm))::int AS llm_calls,
           coalesce(sum(s.input_tokens) FILTER (WHERE s.is_llm), 0)::bigint AS input_tokens,
           coalesce(sum(s.output_tokens) FILTER (WHERE s.is_llm), 0)::bigint AS output_tokens,
           coalesce(sum(s.cost_usd) FILTER (WHERE s.is_llm), 0) AS cost_usd,
           coalesce(bool_or(s.status_code = 'error'), false) AS has_error,
           bool_or(s.parent_span_id IS NULL
                   AND (s.start_time, s.span_id) < (c.start_time, c.span_id)) AS shadowed
    FROM spans s
    WHERE s.trace_id = c.trace_id
      AND s.start_time >= c.start_time - %(spread_before)s
      AND s.start_time < c.start_time + %(spread_after)s
) t
WHERE NOT coalesce(t.shadowed, false)
ORDER BY {order}
"""


class _Plan:
    """The SQL fragments and parameters of one list request."""

    def __init__(self, query: TraceQuery) -> None:
        f = query.filter
        self.query = query
        self.direction = "DESC" if query.order == "desc" else "ASC"
        self.params: dict[str, Any] = {"limit": query.limit + 1}  # one more: a next page?
        self.root = ["r.parent_span_id IS NULL"]
        for name, fragment in _ROOT_FILTERS.items():
            value = getattr(f, name)
            if value is not None:
                self.root.append(fragment)
                self.params[name] = value
        self.params["spread_before"] = SPREAD_BEFORE
        self.params["spread_after"] = SPREAD_AFTER
        # Spans that can belong to a root of the time range (for the hashed sets).
        self.range = "".join(
            f" AND {fragment}" for name, fragment in _RANGE.items() if getattr(f, name)
        )
        # (condition on a span x, negated): a trace matches when one of its spans
        # meets the condition (or, negated, when none does).
        self.span_filters: list[tuple[str, bool]] = []
        for name, condition in _SPAN_FILTERS.items():
            value = getattr(f, name)
            if name == "status" and value is not None:
                self.span_filters.append((condition, value == "ok"))
            elif value is not None:
                self.span_filters.append((condition, False))
                self.params[name] = value
        # Filters too common to start from (a frequent search word): probed only.
        self.probe_only: set[str] = set()
        key = _SORT_KEYS[query.sort]
        self.order = f"{key} {self.direction}, r.trace_id {self.direction}"
        self.after = None
        if query.after is not None:
            op = "<" if query.order == "desc" else ">"
            self.after = (
                f"({key}, r.trace_id) {op} (%(after_key)s::{_SORT_TYPES[query.sort]}, %(after_id)s)"
            )
            self.params["after_key"] = query.after.key
            self.params["after_id"] = query.after.id

    @property
    def has_span_filters(self) -> bool:
        return bool(self.span_filters)

    def roots(self, extra: list[str] | None = None) -> str:
        parts = [*self.root, *(extra or [])]
        if self.after and self.query.sort != "cost":
            parts.append(self.after)
        return " AND ".join(parts)

    # --- the two ways ------------------------------------------------------------------

    def probed(self, budget: int) -> str:
        probes = [self.probe(condition, negate) for condition, negate in self.span_filters]
        self.params["budget"] = budget
        return (
            f"SELECT * FROM (SELECT {_CANDIDATE} FROM spans r WHERE {self.roots()} "
            f"ORDER BY {self.order} LIMIT %(budget)s) r "
            f"WHERE {' AND '.join(probes) or 'true'} ORDER BY {self.order} LIMIT %(limit)s"
        )

    def probe(self, condition: str, negate: bool) -> str:
        """Whether the root's trace has a span meeting `condition`, near the root."""
        # A scalar subquery with LIMIT stays a per-root probe (EXISTS would become a
        # hash join over every matching span, which is the other way), and its window
        # lets TimescaleDB skip every chunk but the root's.
        return (
            f"(SELECT 1 FROM spans x WHERE x.trace_id = r.trace_id AND {condition} "
            f"AND {_NEAR_ROOT.format(x='x')} LIMIT 1) IS {'' if negate else 'NOT '}NULL"
        )

    def candidates(self) -> tuple[str, list[str]] | None:
        """The traces of the rarest positive filter that are in every other positive set
        (hashed), with their first matching span; and the probes left for their roots.
        None without a positive filter."""
        positive = [c for c, negate in self.span_filters if not negate and c not in self.probe_only]
        if not positive:
            return None
        driver, others = positive[0], positive[1:]
        shared = "".join(
            f" AND d.trace_id IN (SELECT x.trace_id FROM spans x WHERE {c}{self.range})"
            for c in others
        )
        sql_text = (
            "SELECT d.trace_id, min(d.start_time) AS first FROM spans d "
            f"WHERE {driver.replace('x.', 'd.')}{self.range.replace('x.', 'd.')}{shared} "
            "GROUP BY d.trace_id"
        )
        # The others again, near the root (the sets only said "somewhere in the range").
        probes = [self.probe(c, negate) for c, negate in self.span_filters if c != driver]
        return sql_text, probes

    _NEAR_FIRST = (
        "r.start_time > c.first - %(spread_after)s AND r.start_time <= c.first + %(spread_before)s"
    )

    def _in_candidates(self) -> str:
        near = self._NEAR_FIRST
        return f"EXISTS (SELECT FROM candidates c WHERE c.trace_id = r.trace_id AND {near})"

    def _from_candidates(self, candidates: str, probes: list[str]) -> str:
        """Roots of the candidate traces in sort order, whichever way is cheaper.

        Few: look up each candidate's earliest root near its first matching span. Many:
        probe the roots in sort order, stopping at a page. Both branches are planned;
        the count decides at run time which one runs.
        """
        page = f"ORDER BY {self.order} LIMIT %(limit)s"
        few = (
            f"SELECT {_CANDIDATE} FROM candidates c CROSS JOIN LATERAL (SELECT r.* FROM spans r "
            f"WHERE r.trace_id = c.trace_id AND r.parent_span_id IS NULL AND {self._NEAR_FIRST} "
            "ORDER BY r.start_time, r.span_id LIMIT 1) r "
            f"WHERE (SELECT n FROM counted) <= {FEW_CANDIDATES} AND {self.roots(probes)} {page}"
        )
        # Many: the matches are common after all (the probe budget fell just short), so
        # probe every filter on the roots in sort order until the page is full.
        every = [self.probe(c, negate) for c, negate in self.span_filters]
        many = (
            f"SELECT {_CANDIDATE} FROM spans r WHERE (SELECT n FROM counted) > {FEW_CANDIDATES} "
            f"AND {self.roots(every)} {page}"
        )
        return (
            f"WITH candidates AS MATERIALIZED ({candidates}), "
            "counted AS (SELECT count(*) AS n FROM candidates) "
            f"SELECT * FROM (({few}) UNION ALL ({many})) r {page}"
        )

    def _anti_sets(self) -> tuple[str, list[str]]:
        """Without a driver set: the negated filters as materialised sets checked near
        the roots, the positive ones (a common search word) as probes."""
        ctes, conditions = [], []
        for i, (condition, negate) in enumerate(self.span_filters):
            if not negate:
                conditions.append(self.probe(condition, negate))
                continue
            ctes.append(
                f"p{i} AS MATERIALIZED (SELECT x.trace_id, x.start_time FROM spans x "
                f"WHERE {condition}{self.range})"
            )
            conditions.append(
                f"NOT EXISTS (SELECT FROM p{i} p WHERE p.trace_id = r.trace_id "
                f"AND {_NEAR_ROOT.format(x='p')})"
            )
        return (f"WITH {', '.join(ctes)} " if ctes else ""), conditions

    def hashed(self) -> str:
        found = self.candidates()
        if found is None:  # only "no span failed" (or no span filter): roots in order
            with_, conditions = self._anti_sets()
            return (
                f"{with_}SELECT {_CANDIDATE} FROM spans r "
                f"WHERE {self.roots(conditions)} ORDER BY {self.order} LIMIT %(limit)s"
            )
        return self._from_candidates(*found)

    def by_cost(self) -> str:
        """Every candidate's cost (its LLM calls in the range, summed), then the sort;
        probes run after it, in cost order, until the page is full."""
        found = self.candidates()
        with_, conditions = self._anti_sets()
        ctes = [with_.removeprefix("WITH ").strip()] if with_ else []
        probes = [c for c in conditions if not c.startswith("NOT EXISTS")]
        conditions = [c for c in conditions if c not in probes]
        if found is not None:
            candidates, probes = found
            conditions = [self._in_candidates()]
            ctes.insert(0, f"candidates AS MATERIALIZED ({candidates})")
        ctes.append(
            "costs AS MATERIALIZED (SELECT x.trace_id, sum(x.cost_usd) AS cost FROM spans x "
            f"WHERE x.is_llm{self.range} GROUP BY x.trace_id)"
        )
        outer = [*([self.after] if self.after else []), *probes]
        # OFFSET 0 keeps the outer filter out of the subquery: probes run in cost order.
        return (
            f"WITH {', '.join(ctes)} SELECT * FROM (SELECT {_CANDIDATE}, "
            "coalesce(k.cost, 0) AS sort_cost FROM spans r LEFT JOIN costs k "
            f"ON k.trace_id = r.trace_id WHERE {self.roots(conditions)} "
            f"ORDER BY {self.order} OFFSET 0) r "
            f"WHERE {' AND '.join(outer) or 'true'} ORDER BY {self.order} LIMIT %(limit)s"
        )

    def details(self, candidates: str, extra: str = "") -> sql.Composed:
        by_cost = self.query.sort == "cost"
        text = _DETAILS.format(
            candidates=candidates,
            cost="c.sort_cost::float8" if by_cost else "t.cost_usd::float8",
            sort_cost="c.sort_cost" if by_cost else "t.cost_usd",
            extra=extra,
            order=self.order.replace("r.", "c.").replace("sort_cost", "c.sort_cost"),
        )
        return sql.SQL(text)  # type: ignore[arg-type]


def trace_list_sql(
    query: TraceQuery, way: str = "probed", common_search: bool = False
) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement of one way ("probed", "hashed"; cost sorts have one) and its parameters.

    `common_search`: the search words match too many calls for their set to be read.
    """
    plan = _Plan(query)
    if common_search:
        plan.probe_only.add(_SPAN_FILTERS["q"])
    if query.sort == "cost":
        candidates = plan.by_cost()
    elif way == "probed":
        budget = SEARCH_PROBE_BUDGET if query.filter.q else PROBE_BUDGET
        if query.sort == "duration":  # durations correlate with models: walk further
            budget *= 3
        candidates = plan.probed(budget if plan.has_span_filters else query.limit + 1)
    else:
        candidates = plan.hashed()
    return plan.details(candidates), plan.params


_SEARCH_COUNT = (
    "SELECT count(*) AS n FROM (SELECT 1 FROM spans x WHERE {condition}{range} LIMIT %(cap)s) t"
)


async def _common_search(db: Database, query: TraceQuery) -> bool:
    """Whether the words match more calls than a set worth reading (counted from the
    full-text index, stopping at the cap)."""
    if not query.filter.q:
        return False
    plan = _Plan(query)
    text = _SEARCH_COUNT.format(condition=_SPAN_FILTERS["q"], range=plan.range)
    rows = await db.fetch_all(sql.SQL(text), {**plan.params, "cap": COMMON_SEARCH + 1})  # type: ignore[arg-type]
    return bool(rows) and rows[0]["n"] > COMMON_SEARCH


async def list_traces(db: Database, query: TraceQuery) -> TraceList:
    # Search words: counted first (from the full-text index, cheap), so rare words go
    # straight to their set and common ones are probed, never gathered.
    common = await _common_search(db, query)
    way = "probed"
    if query.filter.q and not common:
        way = "hashed"
    statement, params = trace_list_sql(query, way, common)
    rows = await db.fetch_all(statement, params)
    probed_short = way == "probed" and query.sort != "cost" and len(rows) <= query.limit
    if probed_short and _Plan(query).has_span_filters:
        # The probe budget may have run out before the page was full: the exact way
        # for rare matches decides.
        statement, params = trace_list_sql(query, "hashed", common)
        rows = await db.fetch_all(statement, params)
    page = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = page[-1]
        next_cursor = Cursor(last[_CURSOR_FIELDS[query.sort]], last["trace_id"]).encode(query.kind)
    return TraceList.model_validate({"items": page, "next_cursor": next_cursor})
