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


class FirstSeen:
    """The first `limit` distinct values get a label of their own, the rest "other".

    Per worker process, so a stack of N processes has at most N x limit values; the
    dashboards sum over processes anyway.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if not value:
            return UNKNOWN
        if value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return OTHER


def error_type(value: object) -> str:
    """`error.type` as instrumentations write it -> a short name.

    Some write the class repr ("<class 'openai.RateLimitError'>"): keep its last part.
    """
    if not isinstance(value, str) or not value:
        return UNKNOWN
    text = value.strip()
    if text.startswith("<class '") and text.endswith("'>"):
        text = text[8:-2]
    return text.rsplit(".", 1)[-1][:64] or UNKNOWN
