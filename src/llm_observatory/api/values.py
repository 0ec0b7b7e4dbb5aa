"""One request value checked: the error that names it, times in UTC, text the database holds.

api/params.py builds the filters, pages and cursors of every front end from these.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

# The times a request may write (ISO 8601, naive is UTC): what the OpenAPI schema
# declares is what is accepted, so a unix timestamp ("1700000000"), which pydantic
# would take, is refused like any other text. Each field is within its range, in ASCII
# digits (Python's \d takes any script's), so a value the pattern admits is one the
# parser takes, but for a day past its month's end, year 0, and an instant outside
# years 1-9999 once in UTC.
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
_ZONE = r"([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])"
DATETIME_PATTERN = rf"{_DATE}([Tt ]{_TIME}{_ZONE}?)?"
ZONED_DATETIME_PATTERN = rf"{_DATE}[Tt ]{_TIME}{_ZONE}"
_DATETIME = re.compile(DATETIME_PATTERN)
DATETIME_EXAMPLE = "2026-01-31T12:00:00Z"


class BadParameter(ValueError):
    """A request parameter that cannot be used; `name` is the parameter as the client wrote it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (what the database stores).

    Raises ValueError for an instant that is not in years 1-9999 once in UTC
    (0001-01-01T00:00:00+00:01 is in year 0): pydantic reports it as the field's error.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is out of range once in UTC") from None


def utc_parameter(name: str, value: datetime) -> datetime:
    """`as_utc` for a parameter read outside a filter model: BadParameter names it."""
    try:
        return as_utc(value)
    except ValueError as exc:
        raise BadParameter(name, str(exc)) from None


# What the schemas say of every text parameter: no NUL (a lone surrogate cannot travel
# in a URL, and JSON schema patterns cannot name one).
TEXT_SCHEMA: dict[str, Any] = {"pattern": "^[^\\u0000]*$"}

# Whitespace as Python's str.strip() sees it (all of it below U+3001), the rule by which
# a deletion's value is blank: spelled out in the schema, since regex dialects disagree
# on what \s holds (ECMAScript's leaves out U+001C-U+001F, which strip() removes).
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
# Text that is not blank: some character neither NUL nor whitespace.
NON_BLANK_TEXT_SCHEMA: dict[str, Any] = {
    "pattern": "^[^\\u0000]*[^\\u0000{}][^\\u0000]*$".format(
        "".join(f"\\u{ord(c):04x}" for c in WHITESPACE)
    )
}


def plain_text(value: str | None) -> str | None:
    # PostgreSQL text holds neither NUL nor unpaired surrogates (which UTF-8 cannot
    # encode): refused here, they would be a database error.
    if value is not None and ("\x00" in value or has_surrogate(value)):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


def has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def iso_datetime(value: Any) -> Any:
    if isinstance(value, str) and not _DATETIME.fullmatch(value):
        raise ValueError(f"must be an ISO 8601 time such as {DATETIME_EXAMPLE} (naive is UTC)")
    return value


def datetime_schema(blank: bool = False, zoned: bool = False) -> dict[str, Any]:
    """The JSON schema of a time parameter (`blank`: an empty value means none;
    `zoned`: a time zone is required)."""
    pattern = ZONED_DATETIME_PATTERN if zoned else DATETIME_PATTERN
    pattern = f"^({pattern})?$" if blank else f"^{pattern}$"
    return {"type": "string", "pattern": pattern, "examples": [DATETIME_EXAMPLE]}


# A time parameter; in UTC after `as_utc` (its range is checked there).
IsoDateTime = Annotated[datetime, BeforeValidator(iso_datetime), WithJsonSchema(datetime_schema())]
# One that must name its zone (the API answers 422 for a naive one).
ZonedDateTime = Annotated[
    datetime, BeforeValidator(iso_datetime), WithJsonSchema(datetime_schema(zoned=True))
]
