"""A short-lived Redis cache for query answers (usage, models, services).

Answers are stored as JSON under `llmo:cache:<key>` for CACHE_TTL seconds. The key is
built from the normalised parameters (UsageQuery.cache_key), so two requests that
mean the same thing share an entry. Without Redis every answer is computed.

A computed answer is already its models (validated from the rows once); a cached one
is validated once from its JSON, by the same pydantic adapter that wrote it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import TypeAdapter

from llm_observatory.api import metrics
from llm_observatory.api.redis_gate import RedisGate, RedisUnavailable

PREFIX = "llmo:cache:"

T = TypeVar("T")


class QueryCache:
    def __init__(self, gate: RedisGate, ttl_seconds: int) -> None:
        self.gate = gate
        self.ttl = ttl_seconds

    async def get_or_compute(
        self, query: str, key: str, compute: Callable[[], Awaitable[T]], adapter: TypeAdapter[T]
    ) -> T:
        """The cached answer for `key`, else `compute()`'s (then cached)."""
        full_key = PREFIX + key
        try:
            cached = await self.gate.run(lambda redis: redis.get(full_key))
        except RedisUnavailable:
            cached = None
        if cached is not None:
            metrics.CACHE_HITS.labels(query).inc()
            return adapter.validate_json(cached)
        metrics.CACHE_MISSES.labels(query).inc()
        value = await compute()
        payload = adapter.dump_json(value)
        # Without Redis the answer goes out uncached; the gate has logged why.
        with contextlib.suppress(RedisUnavailable):
            await self.gate.run(lambda redis: redis.set(full_key, payload, ex=self.ttl))
        return value
