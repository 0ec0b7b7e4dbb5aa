"""A time range split into the whole hours the call rollups hold and the rest.

The rollups (storage/call_rollups.py) sum the calls of whole buckets; a range asked at
any microsecond is answered from the rollups for the whole buckets within it and from
the calls themselves for the partial buckets at its ends (its edges).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from llm_observatory.storage import call_rollups

HOUR = call_rollups.BUCKET
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Range = tuple[datetime | None, datetime | None]  # [from, to); None: unbounded


def _floor_hour(value: datetime) -> datetime:
    """The start of the rollup bucket `value` is in (buckets are aligned on the epoch)."""
    return _EPOCH + (value - _EPOCH) // HOUR * HOUR


def whole_hours(start: datetime | None, end: datetime | None) -> tuple[Range | None, list[Range]]:
    """The whole hours within [start, end), and the parts of it outside them."""
    first = start
    if start is not None and start != _floor_hour(start):
        if _floor_hour(start) > datetime.max.replace(tzinfo=UTC) - HOUR:
            return None, [(start, end)]  # the last hour of year 9999: no whole one after it
        first = _floor_hour(start) + HOUR
    last = None if end is None else _floor_hour(end)
    if first is not None and last is not None and first >= last:
        return None, [(start, end)]
    edges: list[Range] = []
    if start is not None and first is not None and start < first:
        edges.append((start, first))
    if end is not None and last is not None and last < end:
        edges.append((last, end))
    return (first, last), edges


def bounds(column: str, span: Range, name: str, params: dict[str, Any]) -> str:
    """` AND s.<column> >= … AND s.<column> < …` for `span`, its values added to `params`
    under `name`."""
    text = ""
    for op, suffix, value in ((">=", "from", span[0]), ("<", "to", span[1])):
        if value is not None:
            params[f"{name}_{suffix}"] = value
            text += f" AND s.{column} {op} %({name}_{suffix})s"
    return text


def calls_by_hours(
    rolled_up: str,
    calls: str,
    span: Range,
    params: dict[str, Any],
    *,
    split: bool = True,
) -> str:
    """`rolled_up` (rollup rows `s`) for the whole hours of `span` UNION ALL `calls`
    (spans `s`) for the rest, each a query its bounds are appended to; unsplit
    (`split=False`): `calls` over the whole span."""
    whole, edges = whole_hours(*span) if split else (None, [span])
    parts = [] if whole is None else [rolled_up + bounds("hour", whole, "hours", params)]
    for i, edge in enumerate(edges):
        parts.append(calls + bounds("start_time", edge, f"edge{i}", params))
    return " UNION ALL ".join(parts)
