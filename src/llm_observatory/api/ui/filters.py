"""The list pages' filter forms: query string in, the API's query objects out.

A page's filters are plain GET parameters, so every filtered view is a link that can
be bookmarked or shared. Values are validated by the API's own filter models
(api/params.py, the same messages as REST); a bad value shows on the page as a 422,
never a 500. The one thing the UI adds is a time range preset (`range=24h`), which
becomes the filters' `from`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.datastructures import QueryParams

from llm_observatory.api.params import (
    BadParameter,
    LogQuery,
    PageQuery,
    SessionQuery,
    TraceQuery,
    UserQuery,
)

RANGES: dict[str, timedelta] = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {
    "": "Any time",
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
SORT_LABELS = {"time": "Newest first", "duration": "Slowest first", "cost": "Costliest first"}
SEVERITY_LABELS = {
    "": "Any",
    "debug": "Debug and above",
    "info": "Info and above",
    "warn": "Warning and above",
    "error": "Error and above",
    "fatal": "Fatal",
}
PAGE_SIZE = 50
MAX_VALUE = 512  # longer than any filter the API accepts: it answers with the message

# The parameters each list page keeps in its links (cursor excluded).
TRACE_FIELDS = (
    "q",
    "service",
    "provider",
    "model",
    "status",
    "user",
    "session",
    "range",
    "from",
    "to",
    "sort",
)
SESSION_FIELDS = ("service", "user", "model", "range", "from", "to")
USER_FIELDS = ("service", "model", "range", "from", "to")
LOG_FIELDS = ("q", "service", "min_severity", "trace_id", "span_id", "range", "from", "to")


def text(params: QueryParams, name: str) -> str | None:
    value = (params.get(name) or "").strip()
    return value[:MAX_VALUE] or None


def current(params: QueryParams, names: tuple[str, ...]) -> dict[str, str]:
    """The filters set now, for links and forms that keep them."""
    return {name: value for name in names if (value := text(params, name))}


def range_start(preset: str, now: datetime | None = None) -> datetime:
    if preset not in RANGES:
        raise BadParameter("range", f"must be one of {', '.join(RANGES)}, not {preset!r}")
    return (now or datetime.now(UTC)) - RANGES[preset]


def with_range(values: dict[str, str], now: datetime | None = None) -> dict[str, Any]:
    """The filter mapping the API parses: `range` becomes `from` unless one is given."""
    mapping: dict[str, Any] = {k: v for k, v in values.items() if k != "range"}
    preset = values.get("range")
    if preset and "from" not in values and "to" not in values:
        mapping["from"] = range_start(preset, now).isoformat()
    return mapping


def _page(cls: type[PageQuery], params: QueryParams, names: tuple[str, ...]) -> Any:
    mapping = with_range(current(params, names))
    return cls.parse(mapping, limit=PAGE_SIZE, cursor=text(params, "cursor"))


def trace_query(params: QueryParams) -> TraceQuery:
    values = current(params, TRACE_FIELDS)
    sort = values.pop("sort", "time")
    return TraceQuery.parse(
        with_range(values), sort=sort, limit=PAGE_SIZE, cursor=text(params, "cursor")
    )


def session_query(params: QueryParams) -> SessionQuery:
    return _page(SessionQuery, params, SESSION_FIELDS)


def user_query(params: QueryParams) -> UserQuery:
    return _page(UserQuery, params, USER_FIELDS)


def log_query(params: QueryParams) -> LogQuery:
    return _page(LogQuery, params, LOG_FIELDS)
