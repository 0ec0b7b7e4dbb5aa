"""What a usage answer's latency percentiles must be, computed from every call.

The API reads them off latency buckets (storage/latency_buckets.py): the bucket of the
call at rank q x (n - 1) from the fastest, read as a value within RELATIVE_ERROR of
any latency in it.
"""

from __future__ import annotations

from decimal import Decimal

from llm_observatory.storage.latency_buckets import RELATIVE_ERROR


def at_rank(latencies: list[float], q: str) -> float:
    """The latency of the call at rank q x (n - 1) (q as a decimal string: exact)."""
    ordered = sorted(latencies)
    return ordered[int(Decimal(q) * (len(ordered) - 1))]


def close_enough(found: float, exact: float) -> bool:
    return abs(found - exact) <= exact * RELATIVE_ERROR * (1 + 1e-9)
