"""Page cursors: where the previous page of a list ended, opaque to the client.

A cursor is URL-safe base64 of `[list and sort, sort key, id]`. Everything in one a
client hands back is checked before it reaches SQL: its length (MAX_CURSOR_LENGTH),
its shape, its kind (a cursor of another list or sort is refused), a sort key the
database can compare (a time in years 1-9999, a finite number) and an id the
database can hold. Any failure is a BadParameter naming the cursor's parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from llm_observatory.api.values import BadParameter, as_utc, plain_text
from llm_observatory.core.settings import ApiSettings

# The default of MAX_CURSOR_LENGTH, and the most it may be raised to (REST declares it).
_LENGTH = ApiSettings.model_fields["max_cursor_length"]
MAX_CURSOR: int = _LENGTH.default
MAX_CURSOR_CEILING: int = next(bound.le for bound in _LENGTH.metadata if hasattr(bound, "le"))
# A cursor's sort key for cost: what numeric holds and a sum of costs can reach.
MAX_COST_KEY = Decimal(10) ** 15
# A log record's position (its ctid): (block, offset).
_CTID = re.compile(r"\(\d{1,10},\d{1,5}\)")

CursorKey = datetime | float | Decimal


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last item of a page: its sort value and its unique id.

    Encoded with the list and sort it belongs to, so a cursor of one sort handed to
    another is refused instead of silently skipping items.
    """

    key: CursorKey
    id: str

    def encode(self, kind: str = "traces:time:desc") -> str:
        key = self.key.isoformat() if isinstance(self.key, datetime) else str(self.key)
        # UTF-8, not \u escapes: an id of 256 CJK characters stays within the default limit.
        raw = json.dumps([kind, key, self.id], separators=(",", ":"), ensure_ascii=False)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(
        cls,
        value: str,
        name: str = "cursor",
        kind: str = "traces:time:desc",
        key_type: type = datetime,
        max_length: int = MAX_CURSOR,
    ) -> Cursor:
        malformed = "malformed: pass the next_cursor of a previous page unchanged"
        if len(value) > max_length:
            raise BadParameter(
                name, f"is {len(value)} characters, more than MAX_CURSOR_LENGTH ({max_length})"
            )
        try:
            padded = value + "=" * (-len(value) % 4)
            found_kind, key, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not all(isinstance(part, str) for part in (found_kind, key, item_id)):
                raise TypeError("not [kind, key, id]")
        # RecursionError: a cursor of nested lists, deeper than json can parse.
        except (binascii.Error, UnicodeError, ValueError, TypeError, RecursionError) as exc:
            raise BadParameter(name, malformed) from exc
        if found_kind != kind:
            raise BadParameter(
                name, f"is a cursor of {found_kind}, not of {kind}: start again without it"
            )
        try:
            parsed = _cursor_key(key, key_type)
            _cursor_id(item_id, kind)
        except (ValueError, ArithmeticError) as exc:
            raise BadParameter(name, malformed) from exc
        return cls(parsed, item_id)


def _cursor_key(key: str, key_type: type) -> CursorKey:
    """The sort value, as the database can compare it (else ValueError)."""
    if key_type is datetime:
        return as_utc(datetime.fromisoformat(key))
    if key_type is Decimal:
        number = Decimal(key)
        if not number.is_finite() or abs(number) >= MAX_COST_KEY:
            raise ValueError(key)
        return number.quantize(Decimal("1e-12"))
    number = float(key)
    if not math.isfinite(number):
        raise ValueError(key)
    return number


def _cursor_id(item_id: str, kind: str) -> None:
    # Ids are compared with stored text, a log record's with its position (a tid).
    if kind == "logs" and not _CTID.fullmatch(item_id):
        raise ValueError(item_id)
    plain_text(item_id)
