"""Redis for the API: the cache and the rate limiter, both optional for answering.

Redis being down must cost a request nothing: each call is bounded by REDIS_TIMEOUT,
and after a failure the gate stays shut for REDIS_RETRY_AFTER seconds, during which
callers get `RedisUnavailable` at once instead of waiting for a connect that will
fail. The health check always tries for real, so it sees Redis come back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from llm_observatory.api import metrics
from llm_observatory.core.logging import get_logger
from llm_observatory.core.settings import ApiSettings

log = get_logger("llm_observatory.api.redis")

T = TypeVar("T")


class RedisUnavailable(Exception):
    pass


class RedisGate:
    def __init__(self, settings: ApiSettings) -> None:
        self.timeout = settings.redis_timeout
        self.retry_after = settings.redis_retry_after
        # No client-side retries: a retry would multiply the wait the gate bounds.
        self.client = Redis.from_url(
            settings.redis_url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._shut_until = 0.0

    @property
    def is_shut(self) -> bool:
        return time.monotonic() < self._shut_until

    async def run(self, operation: Callable[[Redis], Awaitable[T]]) -> T:
        """Run one Redis operation, or raise RedisUnavailable (at once while shut)."""
        if self.is_shut:
            raise RedisUnavailable("redis is down (not retried yet)")
        try:
            result = await asyncio.wait_for(operation(self.client), self.timeout * 2)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)
            raise RedisUnavailable(str(exc)) from exc
        metrics.REDIS_UP.set(1)
        return result

    async def check(self) -> None:
        """Health check: a real PING, whether or not the gate is shut."""
        try:
            await asyncio.wait_for(self.client.ping(), self.timeout * 4)
        except (RedisError, OSError, TimeoutError) as exc:
            self._fail(exc)
            raise
        self._shut_until = 0.0
        metrics.REDIS_UP.set(1)

    def _fail(self, exc: BaseException) -> None:
        if not self.is_shut:
            log.warning(
                "redis unavailable: answering without cache and rate limit",
                error=f"{type(exc).__name__}: {exc}",
                retry_in_seconds=self.retry_after,
            )
        metrics.REDIS_FAILURES.inc()
        metrics.REDIS_UP.set(0)
        self._shut_until = time.monotonic() + self.retry_after

    async def close(self) -> None:
        await self.client.aclose()
