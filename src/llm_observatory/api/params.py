"""What a request may ask: filters, sorts, pages and cursors, for every front end.

Each list's filters are one pydantic model (`TraceFilter`, `SessionFilter`,
`UserFilter`, `LogFilter`): REST reads them from the query string, GraphQL derives its
input types from them, the web UI validates its forms with them. The `*Query` values
add sort, page size and cursor, and check what spans fields (from before to, a
cursor of this list and sort). A bad value is refused with the same message
whichever way it came: `BadParameter` names it as the client wrote it; REST answers
422, GraphQL an error whose `extensions.argument` names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from llm_observatory.api.cursor import MAX_CURSOR, MAX_CURSOR_CEILING, Cursor
from llm_observatory.api.values import (
    TEXT_SCHEMA,
    BadParameter,
    as_utc,
    datetime_schema,
    iso_datetime,
    plain_text,
    utc_parameter,
)

# Re-exported: the queries and the front ends import them from here.
__all__ = ["MAX_CURSOR", "MAX_CURSOR_CEILING", "BadParameter", "Cursor", "as_utc"]

GroupBy = Literal["model", "provider", "service"]
Interval = Literal["1m", "1h", "1d"]
TraceStatus = Literal["ok", "error"]
TraceSort = Literal["time", "duration", "cost"]
SortOrder = Literal["desc", "asc"]

GROUP_BY_VALUES: tuple[str, ...] = ("model", "provider", "service")
INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
}
TRACE_STATUSES: tuple[str, ...] = ("ok", "error")
TRACE_SORTS: tuple[str, ...] = ("time", "duration", "cost")
SORT_ORDERS: tuple[str, ...] = ("desc", "asc")
DEFAULT_USAGE_RANGE = timedelta(hours=24)
# A usage answer is at most this many buckets per key: 1m over a week is 10,080.
MAX_BUCKETS = 10_080
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TEXT = 256  # a filter value (service, model, id) longer than any real one
MAX_SEARCH = 200  # search text: a few words
# Bounds of the answers that are not pages: a trace with 100k spans is answered with
# its earliest MAX_TRACE_SPANS and `truncated: true`.
MAX_TRACE_SPANS = 2_000
MAX_TRACE_LOG_RECORDS = 1_000
MAX_SESSION_CALLS = 500
# The lists that are not pages: every model (the most requested first) and service
# (by name) up to these, and a usage answer's rows (5,000 models over a day of hours
# would be 120,000).
MAX_MODELS = 1_000
MAX_SERVICES = 1_000
MAX_USAGE_ROWS = 50_000
USER_DETAIL_ITEMS = 20  # recent sessions and traces on a user's answer

# OTLP severity numbers: each name is the first number of its range of four.
SEVERITIES: dict[str, int] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "warn": 13,
    "error": 17,
    "fatal": 21,
}


def check_text(name: str, value: str, max_length: int = 0) -> str:
    """An id argument read outside a filter model (GraphQL's traceId, ...)."""
    max_length = max_length or MAX_TEXT
    if not 1 <= len(value) <= max_length:
        raise BadParameter(name, f"must be 1 to {max_length} characters, not {len(value)}")
    try:
        plain_text(value)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None
    return value


def one_of(name: str, value: str, allowed: tuple[str, ...] | dict[str, object]) -> str:
    if value not in allowed:
        choices = ", ".join(allowed)
        raise BadParameter(name, f"must be one of {choices}, not {value!r}")
    return value


def page_size(name: str, value: int) -> int:
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise BadParameter(name, f"must be between 1 and {MAX_PAGE_SIZE}, not {value}")
    return value


# --- filters ----------------------------------------------------------------------------


def _blank_is_none(value: Any) -> Any:
    # `?service=` (empty) means no filter, as in a query string built from a form.
    return None if value == "" else value


# "info", "INFO", "Info", ... (JSON schema patterns have no case-insensitive flag).
_SEVERITY_NAMES = "^({})?$".format(
    "|".join("".join(f"[{c.upper()}{c}]" for c in name) for name in SEVERITIES)
)


def _severity(value: Any) -> Any:
    # Exactly what the schema declares: a name in any case, or ASCII digits.
    if isinstance(value, str):
        if value.lower() in SEVERITIES:
            return SEVERITIES[value.lower()]
        if not (value.isascii() and value.isdigit()):
            raise ValueError(f"must be {', '.join(SEVERITIES)} or a number 1-24, not {value!r}")
    return value


# The constraint on the value itself, so an explicit null passes (GraphQL sends them).
# Before-validators run last first: blank is none before anything else looks at it.
# The JSON schemas say what is accepted: "" too (no filter), names of severities.
Text = Annotated[
    Annotated[str, Field(max_length=MAX_TEXT, json_schema_extra=TEXT_SCHEMA)] | None,
    BeforeValidator(_blank_is_none),
    AfterValidator(plain_text),
]
SearchText = Annotated[
    Annotated[str, Field(min_length=1, max_length=MAX_SEARCH)] | None,
    BeforeValidator(_blank_is_none),
    AfterValidator(plain_text),
    WithJsonSchema({"type": "string", "maxLength": MAX_SEARCH, **TEXT_SCHEMA}),
]
Severity = Annotated[
    Annotated[int, Field(ge=1, le=24)] | None,
    BeforeValidator(_severity),
    BeforeValidator(_blank_is_none),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 24},
                {"type": "string", "pattern": _SEVERITY_NAMES},
            ]
        }
    ),
]
FilterTime = Annotated[
    datetime | None,
    BeforeValidator(iso_datetime),
    BeforeValidator(_blank_is_none),
    WithJsonSchema(datetime_schema(blank=True)),
]


class _Filter(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="ignore")

    start: FilterTime = Field(
        None, alias="from", description="at or after this time (ISO 8601; naive is UTC)"
    )
    end: FilterTime = Field(None, alias="to", description="before this time (exclusive)")

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    def check(self, names: Mapping[str, str]) -> None:
        """What one field cannot check alone."""
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise BadParameter(
                names["from"], f"must be before {names['to']} ({self.start} >= {self.end})"
            )


class TraceFilter(_Filter):
    service: Text = Field(None, description="service of the root span")
    provider: Text = Field(None, description="traces with a span of this provider")
    model: Text = Field(None, description="traces with an LLM call of this model")
    status: Annotated[
        TraceStatus | None,
        BeforeValidator(_blank_is_none),
        WithJsonSchema({"type": "string", "enum": ["", *TRACE_STATUSES]}),
    ] = Field(None, description="error: some span failed; ok: none did")
    user: Text = Field(None, description="traces with an LLM call of this user id")
    session: Text = Field(None, description="traces with an LLM call of this conversation id")
    q: SearchText = Field(
        None,
        description='words in the prompts or completions (all of them; "quoted phrase", '
        "or, -word as in a web search)",
    )


class SessionFilter(_Filter):
    service: Text = Field(None, description="LLM calls of this service")
    user: Text = Field(None, description="LLM calls of this user id")
    model: Text = Field(None, description="LLM calls of this model")


class UserFilter(_Filter):
    service: Text = Field(None, description="LLM calls of this service")
    model: Text = Field(None, description="LLM calls of this model")


class LogFilter(_Filter):
    service: Text = Field(None, description="service that emitted the record")
    min_severity: Severity = Field(
        None,
        description="at least this severity: trace, debug, info, warn, error, fatal, or 1-24",
    )
    q: SearchText = Field(None, description="words in the body (all of them)")
    trace_id: Text = Field(None, description="records of this trace")
    span_id: Text = Field(None, description="records of this span")


F = TypeVar("F", bound=_Filter)

# Parameter names as REST writes them; GraphQL passes its own through `names`.
_REST_NAMES = {
    "from": "from",
    "to": "to",
    "sort": "sort",
    "order": "order",
    "limit": "limit",
    "cursor": "cursor",
}


def _names(names: Mapping[str, str] | None) -> dict[str, str]:
    return {**_REST_NAMES, **(names or {})}


def _alias(model: type[BaseModel], field: str) -> str:
    info = model.model_fields.get(field)
    return (info.alias or field) if info is not None else field


def parse_filter(model: type[F], value: F | Mapping[str, Any] | None, prefix: str = "") -> F:
    """A filter from its model, a mapping of its parameters (query string) or nothing."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(dict(value or {}))
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = error.get("loc") or ("request",)
        field = _alias(model, str(loc[0]))
        raise BadParameter(f"{prefix}{field}", error.get("msg", "not valid")) from None


def _cursor(
    value: str | None, name: str, kind: str, key_type: type, max_length: int
) -> Cursor | None:
    return Cursor.decode(value, name, kind, key_type, max_length) if value else None


# --- list queries -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageQuery(Generic[F]):
    """One page of a list: its filter, its size, and where the previous page ended.

    Sessions, users and logs are ordered by time, newest first (their cursor's key);
    traces add a choice of sort.
    """

    filter: F
    limit: int = DEFAULT_PAGE_SIZE
    after: Cursor | None = None

    filter_model: ClassVar[type[_Filter]]
    kind: ClassVar[str]
    sorted_by_client: ClassVar[bool] = False  # a sort and order of the client's (traces)

    @classmethod
    def parse(
        cls,
        filter: F | Mapping[str, Any] | None = None,
        *,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        names: Mapping[str, str] | None = None,
        filter_prefix: str = "",
        max_cursor: int = MAX_CURSOR,
    ) -> Self:
        parsed, after = cls._page(filter, limit, cursor, names, filter_prefix, max_cursor)
        return cls(parsed, limit, after)

    @classmethod
    def _page(
        cls,
        filter: Any,
        limit: int,
        cursor: str | None,
        names: Mapping[str, str] | None,
        filter_prefix: str,
        max_cursor: int,
        sort: str = "time",
        order: str = "desc",
    ) -> tuple[Any, Cursor | None]:
        """The filter and the cursor, each value checked (in the order of the errors)."""
        name = _names(names)
        parsed = parse_filter(cls.filter_model, filter, filter_prefix)
        parsed.check(name)
        kind, key_type = cls.kind, datetime
        if cls.sorted_by_client:
            one_of(name["sort"], sort, TRACE_SORTS)
            one_of(name["order"], order, SORT_ORDERS)
            kind, key_type = f"traces:{sort}:{order}", _TRACE_SORT_KEYS[sort]
        page_size(name["limit"], limit)
        return parsed, _cursor(cursor, name["cursor"], kind, key_type, max_cursor)


class SessionQuery(PageQuery[SessionFilter]):
    filter_model = SessionFilter
    kind = "sessions"


class UserQuery(PageQuery[UserFilter]):
    filter_model = UserFilter
    kind = "users"


class LogQuery(PageQuery[LogFilter]):
    filter_model = LogFilter
    kind = "logs"


# The sort value a trace cursor carries: root start time, root duration, trace cost.
_TRACE_SORT_KEYS: dict[str, type] = {"time": datetime, "duration": float, "cost": Decimal}


@dataclass(frozen=True)
class TraceQuery(PageQuery[TraceFilter]):
    sort: str = "time"
    order: str = "desc"

    filter_model = TraceFilter
    sorted_by_client = True

    @property
    def kind(self) -> str:  # type: ignore[override]
        return f"traces:{self.sort}:{self.order}"

    @classmethod
    def parse(  # type: ignore[override]
        cls,
        filter: TraceFilter | Mapping[str, Any] | None = None,
        *,
        sort: str = "time",
        order: str = "desc",
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        names: Mapping[str, str] | None = None,
        filter_prefix: str = "",
        max_cursor: int = MAX_CURSOR,
    ) -> TraceQuery:
        parsed, after = cls._page(
            filter, limit, cursor, names, filter_prefix, max_cursor, sort, order
        )
        return cls(parsed, limit, after, sort, order)


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
        end = utc_parameter(to_name, end)
        if start is not None:
            start = utc_parameter(from_name, start)
        elif end - datetime.min.replace(tzinfo=UTC) < DEFAULT_USAGE_RANGE:
            raise BadParameter(
                to_name, f"must be at least {DEFAULT_USAGE_RANGE} after year 1 without {from_name}"
            )
        else:
            start = end - DEFAULT_USAGE_RANGE
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
