"""tests/support/grafana_sql.py renders SQL as Grafana does: expected strings from Grafana's own
macro tests (grafana-postgresql-datasource/macros_test.go) and its frontend rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.grafana_sql import (
    ALL,
    QueryContext,
    Variable,
    expand_macros,
    format_interval,
    interpolate_builtins,
    interpolate_variables,
    render,
)

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
TO = datetime(2018, 4, 12, 18, 5, tzinfo=UTC)
PLAIN = QueryContext(FROM, TO, 60, timescaledb=False)
TIMESCALE = QueryContext(FROM, TO, 60, timescaledb=True)


@pytest.mark.parametrize(
    ("sql", "ctx", "expected"),
    [
        (
            "WHERE $__timeFilter(time_column)",
            PLAIN,
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("$__timeGroup(time_column,'5m')", PLAIN, "floor(extract(epoch from time_column)/300)*300"),
        ("$__timeGroup(time_column,'5m')", TIMESCALE, "time_bucket('300.000s',time_column)"),
        (
            "$__timeGroupAlias(time_column,'5m')",
            PLAIN,
            'floor(extract(epoch from time_column)/300)*300 AS "time"',
        ),
        ("$__time(created)", PLAIN, 'created AS "time"'),
        ("$__timeEpoch(created)", PLAIN, 'extract(epoch from created) as "time"'),
        ("$__timeFrom()", PLAIN, "'2018-04-12T18:00:00Z'"),
        ("$__timeTo()", PLAIN, "'2018-04-12T18:05:00Z'"),
        ("$__unixEpochFilter(time)", PLAIN, "time >= 1523556000 AND time <= 1523556300"),
        ("$__unixEpochGroup(t, '1m')", PLAIN, "floor((t)/60)*60"),
    ],
)
def test_macros_expand_as_grafana_does(sql, ctx, expected):
    assert expand_macros(sql, ctx) == expected


def test_interval_is_replaced_before_the_macros_see_it():
    ctx = QueryContext(FROM, TO, 90, timescaledb=True)
    sql = interpolate_builtins("$__timeGroupAlias(t, $__interval) -- $__interval_ms", ctx)
    assert sql == "$__timeGroupAlias(t, 1m) -- 90000"
    assert expand_macros(sql, ctx) == "time_bucket('60.000s',t) AS \"time\" -- 90000"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.5, "500ms"), (1, "1s"), (90, "1m"), (3600, "1h"), (172800, "2d")]
)
def test_format_interval_truncates_to_the_largest_unit(seconds, text):
    assert format_interval(seconds) == text


def test_multi_value_variables_become_quoted_lists():
    variables = {"model": Variable("model", ["gpt-4o", "o'brien"])}
    sql = "model IN ($model) OR model IN (${model}) OR m IN ([[model]])"
    expected = "'gpt-4o','o''brien'"
    assert interpolate_variables(sql, variables) == (
        f"model IN ({expected}) OR model IN ({expected}) OR m IN ({expected})"
    )


def test_all_is_every_option_unless_a_custom_all_value_is_set():
    every = Variable("service", [ALL], options=["a", "b"])
    custom = Variable("service", [ALL], options=["a", "b"], all_value=".*")
    assert interpolate_variables("IN ($service)", {"service": every}) == "IN ('a','b')"
    assert interpolate_variables("~ '$service'", {"service": custom}) == "~ '.*'"


def test_single_value_variable_is_inserted_raw_and_sqlstring_quotes_it():
    single = Variable("provider", ["open'ai"], multi=False, include_all=False)
    assert interpolate_variables("'$provider'", {"provider": single}) == "'open''ai'"
    assert interpolate_variables("${provider:sqlstring}", {"provider": single}) == "'open''ai'"


def test_render_refuses_what_it_cannot_expand():
    with pytest.raises(ValueError, match="unexpanded"):
        render("SELECT 1 WHERE x IN ($unknown)", PLAIN, {})
    with pytest.raises(ValueError, match="not modelled"):
        render("SELECT $__unknownMacro(x)", PLAIN, {})
