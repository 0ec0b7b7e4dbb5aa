"""Parameter parsing shared by REST and GraphQL: cursors, usage windows, trace filters."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_observatory.api.params import (
    BadParameter,
    Cursor,
    LogQuery,
    SessionQuery,
    TraceQuery,
    UsageQuery,
    UserQuery,
)
from llm_observatory.api.values import DATETIME_PATTERN


def test_cursor_round_trips_time_and_trace_id_exactly():
    cursor = Cursor(datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), "ab" * 16)
    encoded = cursor.encode()
    assert "=" not in encoded and "/" not in encoded and "+" not in encoded  # URL-safe
    assert Cursor.decode(encoded) == cursor


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["yesterday", "abc"]').decode(),
        base64.urlsafe_b64encode(b'["2025-01-01T00:00:00+00:00"]').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_cursors_name_the_parameter(value):
    with pytest.raises(BadParameter) as caught:
        Cursor.decode(value, name="after")
    assert caught.value.name == "after"
    assert str(caught.value).startswith("after: malformed")


def test_usage_default_window_is_24_hours_ending_at_the_next_minute():
    now = datetime(2025, 5, 5, 10, 30, 42, 999, tzinfo=UTC)
    query = UsageQuery.parse("model", "1h", None, None, now=now)
    assert query.end == datetime(2025, 5, 5, 10, 31, tzinfo=UTC)
    assert query.end - query.start == timedelta(hours=24)
    # Two requests in the same minute share a cache key.
    later = UsageQuery.parse("model", "1h", None, None, now=now + timedelta(seconds=10))
    assert later.cache_key() == query.cache_key()


def test_usage_naive_and_offset_times_are_the_same_utc_instant():
    naive = UsageQuery.parse("model", "1h", datetime(2025, 1, 1), datetime(2025, 1, 2))
    offset = UsageQuery.parse(
        "model",
        "1h",
        datetime(2025, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        datetime(2025, 1, 2, 1, tzinfo=timezone(timedelta(hours=1))),
    )
    assert naive == offset
    assert naive.cache_key() == offset.cache_key()


def test_usage_cache_key_differs_for_each_parameter():
    base = UsageQuery.parse("model", "1h", datetime(2025, 1, 1), datetime(2025, 1, 2))
    variants = [
        UsageQuery.parse("provider", "1h", datetime(2025, 1, 1), datetime(2025, 1, 2)),
        UsageQuery.parse("model", "1d", datetime(2025, 1, 1), datetime(2025, 1, 2)),
        UsageQuery.parse("model", "1h", datetime(2025, 1, 1, 0, 1), datetime(2025, 1, 2)),
        UsageQuery.parse("model", "1h", datetime(2025, 1, 1), datetime(2025, 1, 2, 0, 1)),
    ]
    keys = {base.cache_key(), *(v.cache_key() for v in variants)}
    assert len(keys) == 5


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("colour", "1h", None, None), "group_by"),
        (("model", "5m", None, None), "interval"),
        (("model", "1h", datetime(2025, 1, 2), datetime(2025, 1, 1)), "from"),
        (("model", "1h", datetime(2025, 1, 1), datetime(2025, 1, 1)), "from"),
        (("model", "1m", datetime(2024, 1, 1), datetime(2025, 1, 1)), "interval"),
    ],
)
def test_usage_bad_parameters(args, name):
    with pytest.raises(BadParameter) as caught:
        UsageQuery.parse(*args)
    assert caught.value.name == name


def test_usage_graphql_names_are_used_in_errors():
    with pytest.raises(BadParameter) as caught:
        UsageQuery.parse("colour", "1h", None, None, names=("groupBy", "interval", "from", "to"))
    assert caught.value.name == "groupBy"


def test_a_week_of_minutes_is_allowed():
    query = UsageQuery.parse("model", "1m", datetime(2025, 1, 1), datetime(2025, 1, 8))
    assert query.bucket_width == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("filters", "kwargs", "name"),
    [
        ({"status": "unset"}, {}, "status"),
        ({}, {"limit": 0}, "limit"),
        ({}, {"limit": 501}, "limit"),
        ({"from": datetime(2025, 1, 2), "to": datetime(2025, 1, 1)}, {}, "from"),
        ({}, {"cursor": "%%%"}, "cursor"),
    ],
)
def test_trace_query_bad_parameters(filters, kwargs, name):
    with pytest.raises(BadParameter) as caught:
        TraceQuery.parse(filters, **kwargs)
    assert caught.value.name == name


def test_trace_query_keeps_filters_and_decodes_the_cursor():
    cursor = Cursor(datetime(2025, 1, 1, tzinfo=UTC), "f" * 32)
    query = TraceQuery.parse(
        {"service": "svc", "provider": "openai", "model": "gpt", "status": "error"},
        limit=5,
        cursor=cursor.encode(),
    )
    f = query.filter
    assert (f.service, f.provider, f.model, f.status) == ("svc", "openai", "gpt", "error")
    assert query.limit == 5
    assert query.after == cursor


# --- filters of every list ------------------------------------------------------------

LONG = "x" * 257


@pytest.mark.parametrize(
    ("query_type", "filters", "name"),
    [
        (TraceQuery, {"status": "meh"}, "status"),
        (TraceQuery, {"service": LONG}, "service"),
        (TraceQuery, {"model": LONG}, "model"),
        (TraceQuery, {"provider": LONG}, "provider"),
        (TraceQuery, {"user": LONG}, "user"),
        (TraceQuery, {"session": LONG}, "session"),
        (TraceQuery, {"q": "w" * 201}, "q"),
        (TraceQuery, {"from": "yesterday"}, "from"),
        (TraceQuery, {"to": "2025-13-01"}, "to"),
        (SessionQuery, {"user": LONG}, "user"),
        (SessionQuery, {"from": "2025-01-02", "to": "2025-01-01"}, "from"),
        (UserQuery, {"model": LONG}, "model"),
        (UserQuery, {"to": "soon"}, "to"),
        (LogQuery, {"min_severity": "loud"}, "min_severity"),
        (LogQuery, {"min_severity": "0"}, "min_severity"),
        (LogQuery, {"min_severity": 25}, "min_severity"),
        (LogQuery, {"trace_id": LONG}, "trace_id"),
        (LogQuery, {"q": "w" * 201}, "q"),
    ],
)
def test_every_malformed_filter_is_named(query_type, filters, name):
    with pytest.raises(BadParameter) as caught:
        query_type.parse(filters)
    assert caught.value.name == name
    with pytest.raises(BadParameter) as caught:  # GraphQL's names
        query_type.parse(filters, filter_prefix="filter.", names={"from": "filter.from"})
    assert caught.value.name == f"filter.{name}"


def test_blank_filters_are_no_filters_and_times_are_utc():
    query = TraceQuery.parse(
        {"service": "", "status": "", "q": "", "from": "2025-01-01T01:00:00+01:00"}
    )
    assert query.filter.service is None and query.filter.status is None and query.filter.q is None
    assert query.filter.start == datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "number"), [("error", 17), ("WARN", 13), ("info", 9), ("21", 21), (5, 5)]
)
def test_minimum_severity_by_name_or_number(value, number):
    assert LogQuery.parse({"min_severity": value}).filter.min_severity == number


@pytest.mark.parametrize(("sort", "order"), [("size", "desc"), ("time", "up")])
def test_trace_sort_and_order_are_checked(sort, order):
    with pytest.raises(BadParameter) as caught:
        TraceQuery.parse(sort=sort, order=order)
    assert caught.value.name == ("sort" if sort == "size" else "order")


@pytest.mark.parametrize("limit", [0, -1, 501])
@pytest.mark.parametrize("query_type", [SessionQuery, UserQuery, LogQuery])
def test_page_sizes_of_every_list(query_type, limit):
    with pytest.raises(BadParameter) as caught:
        query_type.parse(limit=limit, names={"limit": "first"})
    assert caught.value.name == "first"


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("time", datetime(2025, 1, 1, 12, 0, 0, 5, tzinfo=UTC)),
        ("duration", 1234.5678901234),
        ("cost", Decimal("0.000012345")),
    ],
)
def test_trace_cursors_carry_their_sort_key_exactly(sort, key):
    cursor = Cursor(key, "ab" * 16).encode(f"traces:{sort}:desc")
    query = TraceQuery.parse(sort=sort, cursor=cursor)
    assert query.after == Cursor(key, "ab" * 16)
    assert type(query.after.key) is type(key)


def test_a_cursor_of_another_list_or_sort_is_refused():
    by_time = Cursor(datetime(2025, 1, 1, tzinfo=UTC), "t").encode("traces:time:desc")
    with pytest.raises(BadParameter, match="cursor of traces:time:desc"):
        TraceQuery.parse(sort="cost", cursor=by_time)
    with pytest.raises(BadParameter, match="cursor of traces:time:desc"):
        TraceQuery.parse(order="asc", cursor=by_time)
    with pytest.raises(BadParameter, match="not of sessions"):
        SessionQuery.parse(cursor=Cursor(datetime(2025, 1, 1, tzinfo=UTC), "u").encode("users"))
    bad_key = base64.urlsafe_b64encode(b'["traces:cost:desc","NaN","t"]').decode()
    with pytest.raises(BadParameter, match="malformed"):
        TraceQuery.parse(sort="cost", cursor=bad_key)
    with pytest.raises(BadParameter, match="malformed"):
        LogQuery.parse(cursor="x" * 600)


# --- edges of time and cursor values ----------------------------------------------------


def test_usage_default_window_may_not_start_before_year_1():
    with pytest.raises(BadParameter) as caught:
        UsageQuery.parse("model", "1h", None, datetime(1, 1, 1, 12, tzinfo=UTC))
    assert caught.value.name == "to"
    # A day after year 1 begins is the earliest end without `from`.
    query = UsageQuery.parse("model", "1d", None, datetime(1, 1, 2, tzinfo=UTC))
    assert query.start == datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "name"),
    [
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1))), None, "from"),
        (None, datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=1))), "to"),
    ],
)
def test_usage_times_outside_years_1_to_9999_in_utc_are_named(start, end, name):
    with pytest.raises(BadParameter) as caught:
        UsageQuery.parse("model", "1h", start, end)
    assert caught.value.name == name


@pytest.mark.parametrize(
    "value", ["1700000000", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00", "a\x00"]
)
@pytest.mark.parametrize("query_type", [TraceQuery, SessionQuery, UserQuery, LogQuery])
def test_filter_times_unix_or_out_of_range_are_named(query_type, value):
    with pytest.raises(BadParameter) as caught:
        query_type.parse({"to": value})
    assert caught.value.name == "to"


def test_naive_and_aware_filter_times_are_the_same_instant():
    naive = TraceQuery.parse({"from": "2025-01-01T00:00:00"}).filter.start
    aware = TraceQuery.parse({"from": "2025-01-01T02:00:00+02:00"}).filter.start
    assert naive == aware and naive.tzinfo is not None


@pytest.mark.parametrize("text", ["a\x00b", "a\ud800b"])
def test_text_filters_refuse_nul_and_lone_surrogates(text):
    with pytest.raises(BadParameter) as caught:
        SessionQuery.parse({"user": text}, filter_prefix="filter.")
    assert caught.value.name == "filter.user"


def test_cursor_length_is_checked_before_decoding_and_names_the_setting():
    cursor = Cursor(datetime(2025, 1, 1, tzinfo=UTC), "t" * 300).encode("sessions")
    assert SessionQuery.parse(cursor=cursor, max_cursor=len(cursor)).after is not None
    with pytest.raises(BadParameter, match="MAX_CURSOR_LENGTH") as caught:
        SessionQuery.parse(cursor=cursor, max_cursor=len(cursor) - 1, names={"cursor": "after"})
    assert caught.value.name == "after"


def test_a_cursor_nested_deeper_than_json_parses_is_malformed():
    nested = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode()
    with pytest.raises(BadParameter, match="malformed"):
        TraceQuery.parse(cursor=nested, max_cursor=len(nested))


@settings(max_examples=300, deadline=None)
@given(st.from_regex(f"^{DATETIME_PATTERN}$", fullmatch=True))
def test_a_time_the_schema_admits_is_parsed_or_refused_for_its_calendar(value):
    # What OpenAPI declares of a time parameter is what parses, but for what a pattern
    # cannot say: a day past its month's end, year 0, or an instant outside years
    # 1-9999 once in UTC.
    try:
        TraceQuery.parse({"from": value})
    except BadParameter as exc:
        assert re.search(
            r"day value is outside expected range|year 0 is out of range|out of range once in UTC",
            exc.message,
        ), (value, exc.message)
