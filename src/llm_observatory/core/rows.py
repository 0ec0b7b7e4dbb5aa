"""Rows of the spans, metric_points and log_records tables, and how records become them.

One `TableSpec` per table: its columns, and for each the record field it comes from and
the conversion that makes the value safe for PostgreSQL (see the conversions below).
The collector builds rows with these specs and sends them to storage, which writes
them as they are, so a record is converted once, where it is decoded.

Conversions: integer nanoseconds -> timestamptz (UTC, microseconds: PostgreSQL's
resolution), dicts/lists/any JSON value -> jsonb text via orjson, lists -> text[].
PostgreSQL rejects NUL in text and ``\\u0000`` in jsonb: NULs are stripped (text) and
``\\u0000`` escapes removed (JSON), so one bad span does not fail its batch. Integers
outside bigint and costs outside numeric(18,9) become NULL for the same reason.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import orjson
from psycopg import sql

# --- value conversion -------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MONEY_LIMIT = 1e9  # numeric(18, 9): 9 digits before the point
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
# A \u0000 escape in JSON text, not preceded by an escaped backslash ("\\u0000" is the
# six characters \u0000, which PostgreSQL accepts).
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def ns_to_datetime(ns: int | None) -> datetime | None:
    """Integer nanoseconds since the epoch -> aware UTC datetime (truncated to µs)."""
    if ns is None:
        return None
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


def clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")  # OTLP/JSON's bytes encoding
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _json_coerce(value: Any) -> Any:
    """Second chance for what orjson refuses (ints beyond 64 bits, odd keys)."""
    if isinstance(value, dict):
        return {str(k): _json_coerce(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_coerce(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64_MIN <= value <= 2**64 - 1 else str(value)
    return value


def dump_json(value: Any) -> str:
    """JSON text PostgreSQL's jsonb accepts: orjson, with \\u0000 escapes removed."""
    try:
        data = orjson.dumps(value, default=_json_default, option=_JSON_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        data = orjson.dumps(_json_coerce(value), default=_json_default, option=_JSON_OPTIONS)
    if b"\\u0000" in data:
        data = _JSON_NUL.sub(rb"\1", data)
    return data.decode()


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dump_json(value)


def _json_object(value: Any) -> str:
    return "{}" if not value else dump_json(value)


def _json_array(value: Any) -> str:
    return "[]" if not value else dump_json(value)


def _bigint(value: Any) -> int | None:
    if value is None:
        return None
    value = int(value)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _money(value: Any) -> float | None:
    """numeric(18,9) input: None for NaN/inf/overflow (which would fail the batch)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) and abs(value) < _MONEY_LIMIT else None


def _bool(value: Any) -> bool:
    return bool(value)


def _bool_or_null(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _text_array(value: Any) -> list[str]:
    if not value:
        return []
    return [clean_text(v) or "" for v in value]


def _default_service(value: Any) -> str:
    return clean_text(value) or "unknown_service"


def _required_text(value: Any) -> str:
    return clean_text(value) or ""


def _status(value: Any) -> str:
    return clean_text(value) or "unset"


def _time(value: Any) -> datetime:
    return ns_to_datetime(value)  # type: ignore[return-value]


# --- table specs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # column in the table
    convert: Callable[[Any], Any]
    source: str | None = None  # record attribute, when it is not `name`


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def staging_table(self) -> str:
        return f"_llmo_stage_{self.table}"

    def row_builder(self) -> Callable[[Any], list[Any]]:
        get = attrgetter(*(c.source or c.name for c in self.columns))
        converters = tuple(c.convert for c in self.columns)

        def build(record: Any) -> list[Any]:
            return [f(v) for f, v in zip(converters, get(record), strict=True)]

        return build

    # SQL, composed with proper identifier quoting.
    def _cols(self) -> sql.Composable:
        return sql.SQL(", ").join(map(sql.Identifier, self.column_names))

    def create_staging_sql(self) -> sql.Composed:
        return sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        ).format(stage=sql.Identifier(self.staging_table), table=sql.Identifier(self.table))

    def copy_sql(self, target: str | None = None) -> sql.Composed:
        return sql.SQL("COPY {t} ({cols}) FROM STDIN").format(
            t=sql.Identifier(target or self.staging_table), cols=self._cols()
        )

    def merge_sql(self) -> sql.Composed:
        return sql.SQL(
            "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"
        ).format(
            table=sql.Identifier(self.table),
            stage=sql.Identifier(self.staging_table),
            cols=self._cols(),
        )

    def insert_sql(self) -> sql.Composed:
        return sql.SQL("INSERT INTO {table} ({cols}) VALUES ({ph}) ON CONFLICT DO NOTHING").format(
            table=sql.Identifier(self.table),
            cols=self._cols(),
            ph=sql.SQL(", ").join(sql.Placeholder() * len(self.columns)),
        )


SPANS = TableSpec(
    "spans",
    (
        Column("start_time", _time, "start_time_unix_nano"),
        Column("end_time", _time, "end_time_unix_nano"),
        Column("duration_ms", float),
        Column("trace_id", _required_text),
        Column("span_id", _required_text),
        Column("parent_span_id", clean_text),
        Column("service_name", _default_service),
        Column("name", _required_text),
        Column("kind", _required_text),
        Column("status_code", _status),
        Column("status_message", clean_text),
        Column("scope_name", clean_text),
        Column("is_llm", _bool),
        Column("provider", clean_text),
        Column("operation", clean_text),
        Column("request_model", clean_text),
        Column("response_model", clean_text),
        Column("model", clean_text),
        Column("input_tokens", _bigint),
        Column("output_tokens", _bigint),
        Column("total_tokens", _bigint),
        Column("cache_read_tokens", _bigint),
        Column("cache_creation_tokens", _bigint),
        Column("reasoning_tokens", _bigint),
        Column("cost_usd", _money),
        Column("reported_cost_usd", _money),
        Column("conversation_id", clean_text),
        Column("user_id", clean_text),
        Column("input_messages", _json_or_null),
        Column("output_messages", _json_or_null),
        Column("pii_types", _text_array),
        Column("attributes", _json_object),
        Column("resource_attributes", _json_object),
        Column("events", _json_array),
        Column("links", _json_array),
    ),
)

METRIC_POINTS = TableSpec(
    "metric_points",
    (
        Column("time", _time, "time_unix_nano"),
        Column("start_time", ns_to_datetime, "start_time_unix_nano"),
        Column("metric_name", _required_text),
        Column("metric_type", _required_text),
        Column("service_name", _default_service),
        Column("scope_name", clean_text),
        Column("unit", clean_text),
        Column("description", clean_text),
        Column("value", _float),
        Column("count", _bigint),
        Column("sum", _float),
        Column("min", _float),
        Column("max", _float),
        Column("buckets", _json_or_null),
        Column("is_monotonic", _bool_or_null),
        Column("aggregation_temporality", clean_text),
        Column("attributes", _json_object),
        Column("resource_attributes", _json_object),
    ),
)

LOG_RECORDS = TableSpec(
    "log_records",
    (
        Column("time", _time, "time_unix_nano"),
        Column("observed_time", ns_to_datetime, "observed_time_unix_nano"),
        Column("service_name", _default_service),
        Column("scope_name", clean_text),
        Column("severity_number", _bigint),
        Column("severity_text", clean_text),
        Column("body", _json_or_null),
        Column("trace_id", clean_text),
        Column("span_id", clean_text),
        Column("event_name", clean_text),
        Column("attributes", _json_object),
        Column("resource_attributes", _json_object),
        Column("pii_types", _text_array),
    ),
)


TABLE_SPECS = {"traces": SPANS, "metrics": METRIC_POINTS, "logs": LOG_RECORDS}
