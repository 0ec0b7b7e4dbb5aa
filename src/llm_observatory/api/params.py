"""Query parameters shared by REST and GraphQL: validation, time ranges, cursors.

Both front ends parse their input into these values, so a bad parameter is refused
with the same message whichever way it came: REST answers 422, GraphQL an error
whose `extensions.argument` names it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

GroupBy = Literal["model", "provider", "service"]
Interval = Literal["1m", "1h", "1d"]
TraceStatus = Literal["ok", "error"]

GROUP_BY_VALUES: tuple[str, ...] = ("model", "provider", "service")
INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
TRACE_STATUSES: tuple[str, ...] = ("ok", "error")
DEFAULT_USAGE_RANGE = timedelta(hours=24)
# A usage answer is at most this many buckets per key: 1m over a week is 10,080.
MAX_BUCKETS = 10_080
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class BadParameter(ValueError):
    """A request parameter that cannot be used; `name` is the parameter as the client wrote it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (what the database stores)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(name: str, value: str, allowed: tuple[str, ...] | dict[str, object]) -> str:
    if value not in allowed:
        choices = ", ".join(allowed)
        raise BadParameter(name, f"must be one of {choices}, not {value!r}")
    return value


def page_size(name: str, value: int) -> int:
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise BadParameter(name, f"must be between 1 and {MAX_PAGE_SIZE}, not {value}")
    return value


# --- usage ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageQuery:
    group_by: str
    interval: str
    start: datetime  # inclusive
    end: datetime  # exclusive

    @classmethod
    def parse(
        cls,
        group_by: str,
        interval: str,
        start: datetime | None,
        end: datetime | None,
        *,
        names: tuple[str, str, str, str] = ("group_by", "interval", "from", "to"),
        now: datetime | None = None,
    ) -> UsageQuery:
        group_name, interval_name, from_name, to_name = names
        one_of(group_name, group_by, GROUP_BY_VALUES)
        one_of(interval_name, interval, INTERVALS)
        if end is None:
            # The default window ends at the next whole minute, so repeated requests
            # within a minute have the same key and share the cached answer.
            now = now or datetime.now(UTC)
            end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = as_utc(end)
        start = as_utc(start) if start is not None else end - DEFAULT_USAGE_RANGE
        if start >= end:
            raise BadParameter(from_name, f"must be before {to_name} ({start} >= {end})")
        if (end - start) / INTERVALS[interval] > MAX_BUCKETS:
            raise BadParameter(
                interval_name,
                f"{interval} over {end - start} is more than {MAX_BUCKETS} buckets: "
                f"use a coarser interval or a shorter {from_name}/{to_name} range",
            )
        return cls(group_by, interval, start, end)

    @property
    def bucket_width(self) -> timedelta:
        return INTERVALS[self.interval]

    def cache_key(self) -> str:
        return (
            f"usage:v1:{self.group_by}:{self.interval}:"
            f"{self.start.isoformat()}:{self.end.isoformat()}"
        )


# --- traces -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last trace of a page: (start_time, trace_id) of that trace."""

    start_time: datetime
    trace_id: str

    def encode(self) -> str:
        raw = json.dumps([self.start_time.isoformat(), self.trace_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str, name: str = "cursor") -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            start, trace_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(start, str) or not isinstance(trace_id, str):
                raise TypeError("not [start_time, trace_id]")
            return cls(as_utc(datetime.fromisoformat(start)), trace_id)
        except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
            raise BadParameter(
                name, "malformed: pass the next_cursor of a previous page unchanged"
            ) from exc


@dataclass(frozen=True, slots=True)
class TraceQuery:
    service: str | None = None
    provider: str | None = None
    model: str | None = None
    status: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = DEFAULT_PAGE_SIZE
    after: Cursor | None = None

    @classmethod
    def parse(
        cls,
        *,
        service: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        names: dict[str, str] | None = None,
    ) -> TraceQuery:
        name = {"status": "status", "from": "from", "to": "to", "limit": "limit"}
        name.update({"cursor": "cursor", **(names or {})})
        if status is not None:
            one_of(name["status"], status, TRACE_STATUSES)
        page_size(name["limit"], limit)
        start = as_utc(start) if start is not None else None
        end = as_utc(end) if end is not None else None
        if start is not None and end is not None and start >= end:
            raise BadParameter(name["from"], f"must be before {name['to']} ({start} >= {end})")
        after = Cursor.decode(cursor, name["cursor"]) if cursor else None
        return cls(service, provider, model, status, start, end, limit, after)
