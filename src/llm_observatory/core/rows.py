"""The spans, metric_points and log_records tables: their columns, and records as COPY rows.

One `TableSpec` per table: its columns and, for each, the record field it comes from
and the encoder that turns the value into one field of PostgreSQL's COPY text format.
The collector encodes each record once, where it is decoded, and storage streams the
rows into COPY as they are (see storage.writer): nothing is converted twice.

Encoders make every value safe for its column, so one odd record cannot fail a batch:
integer nanoseconds -> timestamptz text (UTC, microseconds: PostgreSQL's resolution);
any JSON value -> jsonb text (orjson; ``\\u0000`` escapes, which jsonb refuses,
removed); lists -> text[] literals; NUL characters, which text columns refuse,
stripped; integers outside bigint and costs outside numeric(18,9) -> NULL. COPY text
escapes backslash, tab, newline and carriage return; ``\\N`` is NULL.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson
from psycopg import sql

# --- value encoding ---------------------------------------------------------------------

NULL = "\\N"
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MONEY_LIMIT = 1e9  # numeric(18, 9): 9 digits before the point
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS
# A \u0000 escape in JSON text, not preceded by an escaped backslash ("\\u0000" is the
# six characters \u0000, which PostgreSQL accepts).
_JSON_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""})
_ARRAY_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\x00": ""})


def clean_text(value: Any) -> str | None:
    """Text a text column accepts: str() of non-strings, NUL characters removed."""
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


_DEEP_MARKER = "[nested too deep]"


def _json_coerce(value: Any, depth: int = 0) -> Any:
    """Second chance for what orjson refuses: ints beyond 64 bits, odd keys, deep nesting."""
    if depth >= 64:
        return _DEEP_MARKER
    if isinstance(value, dict):
        return {str(k): _json_coerce(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_coerce(v, depth + 1) for v in value]
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


def copy_text(value: str) -> str:
    """A string as one COPY text field (backslash, tab, newline, CR escaped; NUL dropped)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value or "\x00" in value:
        return value.translate(_COPY_ESCAPES)
    return value


def _text(value: Any) -> str:
    if value is None:
        return NULL
    return copy_text(value if type(value) is str else str(value))


def _required_text(value: Any) -> str:
    return _text(value) if value else ""


def _default_service(value: Any) -> str:
    return _text(value) if value else "unknown_service"


def _status(value: Any) -> str:
    return _text(value) if value else "unset"


def _json(value: Any) -> str:
    if value is None:
        return NULL
    text = dump_json(value)
    # orjson escapes control characters, so JSON text holds no raw tab or newline;
    # its escapes (\" \n \\) need their backslash doubled for COPY.
    return text.replace("\\", "\\\\") if "\\" in text else text


def _json_object(value: Any) -> str:
    return "{}" if not value else _json(value)


def _json_array(value: Any) -> str:
    return "[]" if not value else _json(value)


def _number(value: Any, convert: Callable[[Any], Any]) -> Any:
    """convert(value), or None when the value does not convert."""
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _bigint(value: Any) -> str:
    if value is None:
        return NULL
    number = _number(value, int)
    return str(number) if number is not None and _INT64_MIN <= number <= _INT64_MAX else NULL


def _float(value: Any) -> str:
    if value is None or (number := _number(value, float)) is None:
        return NULL
    if math.isfinite(number):
        return repr(number)
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _money(value: Any) -> str:
    """numeric(18,9): NULL for NaN, infinities and overflow, which would fail the batch."""
    if value is None or (number := _number(value, float)) is None:
        return NULL
    return repr(number) if math.isfinite(number) and abs(number) < _MONEY_LIMIT else NULL


def _bool(value: Any) -> str:
    return "t" if value else "f"


def _bool_or_null(value: Any) -> str:
    return NULL if value is None else ("t" if value else "f")


def _text_array(value: Any) -> str:
    if not value:
        return "{}"
    items = ",".join(f'"{str(v).translate(_ARRAY_ESCAPES)}"' for v in value)
    return copy_text("{" + items + "}")


# Timestamps: spans of one batch share their seconds, so the formatted second is cached
# and only the microseconds are appended.
_SECONDS: dict[int, str] = {}
_SECONDS_MAX = 4096
_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # years 1 to 9999


def timestamp(ns: int) -> str:
    """Integer nanoseconds since the epoch -> timestamptz text in UTC (microseconds)."""
    seconds, micros = divmod(int(ns) // 1000, 1_000_000)
    prefix = _SECONDS.get(seconds)
    if prefix is None:
        if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
            raise ValueError(f"time {ns} ns is outside years 1-9999")
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        gm = time.gmtime(seconds)
        prefix = _SECONDS[seconds] = (
            f"{gm.tm_year:04d}-{gm.tm_mon:02d}-{gm.tm_mday:02d} "
            f"{gm.tm_hour:02d}:{gm.tm_min:02d}:{gm.tm_sec:02d}"
        )
    return f"{prefix}.{micros:06d}+00"


def _time(value: Any) -> str:
    return timestamp(value)


def _time_or_null(value: Any) -> str:
    return NULL if not value else timestamp(value)


def _duration(value: Any) -> str:
    return repr(float(value))


def _remember_last(encode: Callable[[Any], str]) -> Callable[[Any], str]:
    last: list[Any] = [None, NULL]

    def remembered(value: Any) -> str:
        if value is not last[0]:
            last[0], last[1] = value, encode(value)
        return last[1]

    return remembered


# --- table specs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # column in the table
    encode: Callable[[Any], str]
    source: str | None = None  # record attribute, when it is not `name`
    # Text that clients choose and indexes hold (an index row is at most ~2.7 kB): the
    # collector cuts it to MAX_NAME_LENGTH before it reaches the database.
    bounded: bool = False
    # The same object is common to many records in a row (a resource's attributes).
    shared: bool = False

    @property
    def field(self) -> str:
        return self.source or self.name


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[Column, ...]
    # The hypertable's time dimension: what retention, deletion and time filters use.
    time_column: str = "time"

    def __post_init__(self) -> None:
        if self.time_column not in self.column_names:
            raise ValueError(f"{self.table}: no time column {self.time_column!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def bounded_fields(self) -> tuple[str, ...]:
        """Record fields whose text must stay within MAX_NAME_LENGTH."""
        return tuple(c.field for c in self.columns if c.bounded)

    @property
    def header(self) -> str:
        """The first line of an ingest body: the column names, tab-separated."""
        return "\t".join(self.column_names)

    @property
    def staging_table(self) -> str:
        return f"_llmo_stage_{self.table}"

    def row_encoder(self) -> Callable[[Any], str]:
        """record -> one COPY text row (no trailing newline).

        The records of one resource share its attribute dict (collector decoding), so a
        `shared` column's text is remembered for the last object seen: identity, not
        equality, and the object is held, so its id cannot be reused meanwhile. A caller
        must not change a shared object between the records it encodes.
        """
        get = attrgetter(*(c.field for c in self.columns))
        encoders = tuple(_remember_last(c.encode) if c.shared else c.encode for c in self.columns)
        join = "\t".join

        def encode(record: Any) -> str:
            return join([f(v) for f, v in zip(encoders, get(record), strict=True)])

        return encode

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


# Columns several tables have, each the same in all of them.
_TIME = Column("time", _time, "time_unix_nano")
_SERVICE_NAME = Column("service_name", _default_service, bounded=True)
_SCOPE_NAME = Column("scope_name", _text, bounded=True)
_ATTRIBUTES = Column("attributes", _json_object)
_RESOURCE_ATTRIBUTES = Column("resource_attributes", _json_object, shared=True)
_PII_TYPES = Column("pii_types", _text_array)
_INGEST_KEY = Column("ingest_key", _text, bounded=True)

SPANS = TableSpec(
    "spans",
    (
        Column("start_time", _time, "start_time_unix_nano"),
        Column("end_time", _time, "end_time_unix_nano"),
        Column("duration_ms", _duration),
        Column("trace_id", _required_text),
        Column("span_id", _required_text),
        Column("parent_span_id", _text),
        _SERVICE_NAME,
        Column("name", _required_text, bounded=True),
        Column("kind", _required_text),
        Column("status_code", _status),
        Column("status_message", _text),
        _SCOPE_NAME,
        Column("is_llm", _bool),
        Column("provider", _text, bounded=True),
        Column("operation", _text, bounded=True),
        Column("request_model", _text, bounded=True),
        Column("response_model", _text, bounded=True),
        Column("model", _text, bounded=True),
        Column("input_tokens", _bigint),
        Column("output_tokens", _bigint),
        Column("total_tokens", _bigint),
        Column("cache_read_tokens", _bigint),
        Column("cache_creation_tokens", _bigint),
        Column("reasoning_tokens", _bigint),
        Column("cost_usd", _money),
        Column("reported_cost_usd", _money),
        Column("conversation_id", _text, bounded=True),
        Column("user_id", _text, bounded=True),
        Column("input_messages", _json),
        Column("output_messages", _json),
        _PII_TYPES,
        _ATTRIBUTES,
        _RESOURCE_ATTRIBUTES,
        Column("events", _json_array),
        Column("links", _json_array),
        _INGEST_KEY,
    ),
    time_column="start_time",
)

METRIC_POINTS = TableSpec(
    "metric_points",
    (
        _TIME,
        Column("start_time", _time_or_null, "start_time_unix_nano"),
        Column("metric_name", _required_text, bounded=True),
        Column("metric_type", _required_text),
        _SERVICE_NAME,
        _SCOPE_NAME,
        Column("unit", _text, bounded=True),
        Column("description", _text),
        Column("value", _float),
        Column("count", _bigint),
        Column("sum", _float),
        Column("min", _float),
        Column("max", _float),
        Column("buckets", _json),
        Column("is_monotonic", _bool_or_null),
        Column("aggregation_temporality", _text),
        _ATTRIBUTES,
        _RESOURCE_ATTRIBUTES,
        _INGEST_KEY,
    ),
)

LOG_RECORDS = TableSpec(
    "log_records",
    (
        _TIME,
        Column("observed_time", _time_or_null, "observed_time_unix_nano"),
        _SERVICE_NAME,
        _SCOPE_NAME,
        Column("severity_number", _bigint),
        Column("severity_text", _text, bounded=True),
        Column("body", _json),
        Column("trace_id", _text),
        Column("span_id", _text),
        Column("event_name", _text, bounded=True),
        _ATTRIBUTES,
        _RESOURCE_ATTRIBUTES,
        _PII_TYPES,
        _INGEST_KEY,
    ),
)
