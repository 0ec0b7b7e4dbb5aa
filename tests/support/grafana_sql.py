"""Grafana's SQL query pipeline, re-done in Python so dashboard SQL can run in tests.

Grafana cannot run here (no image), so the tests send each dashboard query to the
real database the way Grafana's PostgreSQL data source would, in Grafana's order:

1. the frontend replaces template variables: `$var`, `${var}`, `${var:sqlstring}`,
   `[[var]]`. A multi-value or include-All variable becomes quoted literals joined
   by commas ('a','b'); a single-value one is inserted raw, quotes doubled (Grafana's
   SqlDatasource.interpolateVariable); "All" is every option unless allValue is set;
2. the backend replaces `$__interval_ms`, `$__interval`, `$__unixEpochFrom()`,
   `$__unixEpochTo()` (sqleng.Interpolate);
3. the backend expands the macros (grafana-postgresql-datasource/macros.go):
   `$__time`, `$__timeEpoch`, `$__timeFilter`, `$__timeFrom`, `$__timeTo`,
   `$__timeGroup` (time_bucket with timescaledb: true, else floor(extract(epoch))),
   `$__timeGroupAlias`, `$__unixEpochFilter`, `$__unixEpochGroup(Alias)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

ALL = "$__all"
_MACRO = re.compile(r"\$(__[a-zA-Z0-9_]+)\(([^)]*)\)")
_VARIABLE = re.compile(
    r"\$\{(?P<braced>[a-zA-Z0-9_]+)(?::(?P<fmt>[a-zA-Z0-9_]+))?\}"
    r"|\[\[(?P<old>[a-zA-Z0-9_]+)\]\]"
    r"|\$(?P<plain>[a-zA-Z0-9_]+)"
)
_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


@dataclass(frozen=True)
class Variable:
    """A dashboard variable as the frontend sees it when a panel is queried."""

    name: str
    values: Sequence[str]  # what is selected; [ALL] for "All"
    options: Sequence[str] = ()  # what the variable's query returned
    multi: bool = True
    include_all: bool = True
    all_value: str | None = None

    def selected(self) -> list[str] | str:
        if list(self.values) == [ALL]:
            if self.all_value is not None:
                return self.all_value  # a custom all value is inserted as written
            return list(self.options)
        return list(self.values)


@dataclass(frozen=True)
class QueryContext:
    time_from: datetime
    time_to: datetime
    interval_seconds: float  # $__interval as the panel computes it
    timescaledb: bool = True


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def interpolate_variables(sql: str, variables: Mapping[str, Variable]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("old") or match.group("plain")
        if name.startswith("__") or name not in variables:
            return match.group(0)  # Grafana built-ins are the backend's business
        variable = variables[name]
        value = variable.selected()
        if match.group("fmt") == "sqlstring":
            items = value if isinstance(value, list) else [value]
            return ",".join(quote_literal(str(v)) for v in items)
        if match.group("fmt") not in (None, "raw"):
            raise ValueError(f"format {match.group('fmt')!r} of ${name} is not modelled")
        if isinstance(value, list):
            if len(value) == 1 and not (variable.multi or variable.include_all):
                return value[0].replace("'", "''")
            return ",".join(quote_literal(v) for v in value)
        return value

    return _VARIABLE.sub(replace, sql)


def format_interval(seconds: float) -> str:
    """gtime.FormatInterval: the largest unit, truncated (90s -> 1m); no weeks."""
    ms = int(seconds * 1000)
    for unit, size in (
        ("y", 31536000000),
        ("d", 86400000),
        ("h", 3600000),
        ("m", 60000),
        ("s", 1000),
        ("ms", 1),
    ):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def parse_interval(text: str) -> float:
    match = _INTERVAL.match(text.strip().strip("'"))
    if not match:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def rfc3339(moment: datetime) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def _go_number(value: float) -> str:
    """Go's %v of a float64."""
    return f"{value:g}" if value != int(value) or abs(value) >= 1e21 else str(int(value))


def interpolate_builtins(sql: str, ctx: QueryContext) -> str:
    interval_ms = round(ctx.interval_seconds * 1000)
    sql = sql.replace("$__interval_ms", str(interval_ms))
    sql = sql.replace("$__interval", format_interval(ctx.interval_seconds))
    sql = sql.replace("$__unixEpochFrom()", str(int(ctx.time_from.timestamp())))
    return sql.replace("$__unixEpochTo()", str(int(ctx.time_to.timestamp())))


def expand_macros(sql: str, ctx: QueryContext) -> str:
    def macro(name: str, args: list[str]) -> str:
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(ctx.time_from)}' AND '{rfc3339(ctx.time_to)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(ctx.time_from)}'"
        if name == "__timeTo":
            return f"'{rfc3339(ctx.time_to)}'"
        if name == "__timeGroup":
            if len(args) < 2:
                raise ValueError(f"$__timeGroup needs a column and an interval, got {args}")
            seconds = parse_interval(args[1])
            if ctx.timescaledb:
                return f"time_bucket('{seconds:.3f}s',{args[0]})"
            n = _go_number(seconds)
            return f"floor(extract(epoch from {args[0]})/{n})*{n}"
        if name == "__timeGroupAlias":
            return macro("__timeGroup", args) + ' AS "time"'
        if name == "__unixEpochFilter":
            start, end = int(ctx.time_from.timestamp()), int(ctx.time_to.timestamp())
            return f"{args[0]} >= {start} AND {args[0]} <= {end}"
        if name == "__unixEpochGroup":
            n = _go_number(parse_interval(args[1]))
            return f"floor(({args[0]})/{n})*{n}"
        if name == "__unixEpochGroupAlias":
            return macro("__unixEpochGroup", args) + ' AS "time"'
        raise ValueError(f"macro ${name} is not modelled")

    def replace(match: re.Match[str]) -> str:
        args = [arg.strip() for arg in match.group(2).split(",")] if match.group(2) else []
        return macro(match.group(1), args)

    return _MACRO.sub(replace, sql)


def render(sql: str, ctx: QueryContext, variables: Mapping[str, Variable]) -> str:
    """The SQL Grafana sends to PostgreSQL for this query, range and variable selection."""
    rendered = expand_macros(interpolate_builtins(interpolate_variables(sql, variables), ctx), ctx)
    leftover = re.findall(r"\$\{?[a-zA-Z_][a-zA-Z0-9_]*", rendered)
    if leftover:
        raise ValueError(f"unexpanded after rendering: {leftover} in {rendered}")
    return rendered
