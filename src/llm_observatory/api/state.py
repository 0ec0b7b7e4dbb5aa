"""What a running API holds: settings, the database pool, Redis and its two uses."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from llm_observatory.api.cache import QueryCache
from llm_observatory.api.database import Database
from llm_observatory.api.ratelimit import RateLimiter
from llm_observatory.api.redis_gate import RedisGate
from llm_observatory.core.settings import ApiSettings


@dataclass
class ApiState:
    settings: ApiSettings
    database: Database
    redis: RedisGate
    cache: QueryCache
    limiter: RateLimiter

    @classmethod
    def create(cls, settings: ApiSettings) -> ApiState:
        redis = RedisGate(settings)
        return cls(
            settings=settings,
            database=Database(settings),
            redis=redis,
            cache=QueryCache(redis, settings.cache_ttl),
            limiter=RateLimiter(redis, settings.rate_limit_requests, settings.rate_limit_window),
        )

    async def open(self) -> None:
        await self.database.open()

    async def close(self) -> None:
        await self.redis.close()
        await self.database.close()


def api_state(connection: HTTPConnection) -> ApiState:
    return connection.app.state.api
