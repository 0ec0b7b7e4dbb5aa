"""A trace's spans as waterfall rows: parents before children, each bar placed in time.

A span whose parent never arrived is shown at the top level (the trace may still be
arriving, or a service did not export). Cycles, which only a broken exporter makes,
cannot loop: each span is placed once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

MIN_BAR_PERCENT = 0.3  # a 0 ms span still shows as a sliver


@dataclass
class Row:
    span: Any
    depth: int
    offset_percent: float
    width_percent: float
    offset_ms: float
    is_llm: bool


def is_llm(span: Any) -> bool:
    explicit = getattr(span, "is_llm", None)
    if explicit is not None:
        return bool(explicit)
    return bool(getattr(span, "model", None) or getattr(span, "operation", None))


def rows(spans: list[Any]) -> tuple[list[Row], float]:
    """(rows in display order, the trace's total milliseconds)."""
    if not spans:
        return [], 0.0
    start = min(span.start_time for span in spans)
    end = max(span.end_time for span in spans)
    total_ms = max((end - start).total_seconds() * 1000, 0.001)
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Any]] = defaultdict(list)
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children[parent].append(span)
    for group in children.values():
        group.sort(key=lambda span: (span.start_time, span.span_id))

    ordered: list[Row] = []
    placed: set[str] = set()
    stack = [(span, 0) for span in reversed(children[None])]
    while stack:
        span, depth = stack.pop()
        if span.span_id in placed:
            continue
        placed.add(span.span_id)
        offset = (span.start_time - start).total_seconds() * 1000
        width = max(span.duration_ms, 0.0)
        offset_percent = min(offset / total_ms * 100, 100.0)
        width_percent = max(min(width / total_ms * 100, 100.0 - offset_percent), MIN_BAR_PERCENT)
        ordered.append(
            Row(
                span, depth, round(offset_percent, 3), round(width_percent, 3), offset, is_llm(span)
            )
        )
        stack.extend((child, depth + 1) for child in reversed(children[span.span_id]))
    # Spans only reachable through a cycle: shown flat at the end rather than lost.
    for span in sorted(spans, key=lambda s: (s.start_time, s.span_id)):
        if span.span_id not in placed:
            placed.add(span.span_id)
            offset = (span.start_time - start).total_seconds() * 1000
            ordered.append(Row(span, 0, offset / total_ms * 100, MIN_BAR_PERCENT, offset, False))
    return ordered, total_ms
