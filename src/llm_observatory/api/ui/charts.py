"""Usage rows as chart series: one aligned array per key for each measure (uPlot's shape).

uPlot takes [[x...], [y of series 1...], ...] with the same length everywhere; a
bucket in which a key had no requests is null there (a gap, not a zero).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MEASURES = {
    "requests": "Requests",
    "tokens": "Tokens (input + output)",
    "cost_usd": "Cost (USD)",
    "p95_latency_ms": "p95 latency (ms)",
}
MAX_SERIES = 12  # keys beyond the busiest twelve are summed into "other"


def _value(row: Any, measure: str) -> float:
    if measure == "tokens":
        return float(row.input_tokens + row.output_tokens)
    return float(getattr(row, measure))


def series(rows: list[Any], start: datetime, end: datetime) -> dict[str, Any]:
    """{"x": [epoch seconds], "range": [start, end], "keys": [...], "measures": {...}}.

    The range is the one asked for, so a chart shows the whole window even when calls
    fill only part of it."""
    buckets = sorted({row.bucket for row in rows})
    index = {bucket: i for i, bucket in enumerate(buckets)}
    totals: dict[str, int] = {}
    for row in rows:
        key = row.key or "(not reported)"
        totals[key] = totals.get(key, 0) + row.requests
    keys = sorted(totals, key=lambda k: (-totals[k], k))
    shown = keys[:MAX_SERIES]
    if len(keys) > MAX_SERIES:
        shown.append("other")
    position = {key: i for i, key in enumerate(shown)}
    measures: dict[str, Any] = {}
    for measure, label in MEASURES.items():
        data: list[list[float | None]] = [[None] * len(buckets) for _ in shown]
        for row in rows:
            key = row.key or "(not reported)"
            slot = position.get(key, position.get("other"))
            if slot is None:
                continue
            i = index[row.bucket]
            value = _value(row, measure)
            if measure == "p95_latency_ms":
                # Not additive: "other" shows the worst of its keys.
                data[slot][i] = max(value, data[slot][i] or 0.0)
            else:
                data[slot][i] = (data[slot][i] or 0.0) + value
        measures[measure] = {"label": label, "data": data}
    return {
        "x": [int(b.timestamp()) for b in buckets],
        "range": [int(start.timestamp()), int(end.timestamp())],
        "keys": shown,
        "measures": measures,
    }
