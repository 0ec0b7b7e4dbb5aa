"""Prometheus label values taken from client data, bounded to known lists.

A label per distinct client value would let one request create thousands of series
(5,000 distinct gen_ai.provider.name values once made 5,000): anything not on a
known list is counted as "other".
"""

from __future__ import annotations

from llm_observatory.collector.providers import KNOWN_PROVIDERS

OTHER = "other"
UNKNOWN = "unknown"


def provider(value: str | None) -> str:
    """A provider label: a known OTel provider name, "unknown" (none reported) or "other"."""
    if not value:
        return UNKNOWN
    return value if value in KNOWN_PROVIDERS else OTHER
