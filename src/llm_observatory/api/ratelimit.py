"""Per-client rate limit in Redis: RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW seconds.

A fixed window: one counter per client and window (`llmo:rl:<client>:<window number>`),
incremented and given its expiry in one round trip. The client is the token's subject,
or the address of a caller without a valid token. Without Redis nothing is limited:
answering matters more than limiting.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from llm_observatory.api import metrics
from llm_observatory.api.redis_gate import RedisGate, RedisUnavailable

PREFIX = "llmo:rl:"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets


class RateLimiter:
    def __init__(self, gate: RedisGate, requests: int, window_seconds: int) -> None:
        self.gate = gate
        self.requests = requests
        self.window = window_seconds

    async def hit(self, client: str) -> Decision | None:
        """Count one request of `client`; None when Redis is unavailable (not limited)."""
        now = time.time()
        window_number = int(now // self.window)
        key = f"{PREFIX}{client}:{window_number}"

        async def count(redis):  # type: ignore[no-untyped-def]
            async with redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.window + 1, nx=True)
                used, _ = await pipe.execute()
            return int(used)

        try:
            used = await self.gate.run(count)
        except RedisUnavailable:
            return None
        retry_after = max(1, math.ceil((window_number + 1) * self.window - now))
        allowed = used <= self.requests
        if not allowed:
            metrics.RATE_LIMITED.inc()
        return Decision(allowed, self.requests, max(self.requests - used, 0), retry_after)
