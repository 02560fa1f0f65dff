"""Per-zone query rate limits shared by every worker on every machine, kept in Redis.

Uses the ``limits`` library (fixed one-second windows, atomic Lua in Redis). Each
checker takes tokens in small leases rather than one Redis round trip per query, so a
20,000-query round costs a few hundred Redis calls; a lease is at most a tenth of the
zone's rate, so one worker never starves the others for long.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

from .checker import ZoneSpec


class RedisZoneLimiter:
    def __init__(self, redis_url: str):
        pool = redis.asyncio.ConnectionPool.from_url(redis_url)
        self.limiter = FixedWindowRateLimiter(
            RedisStorage("async+redis://", implementation="redispy", connection_pool=pool, key_prefix="dnsbl-qps")
        )
        self.leases: dict[int, int] = {}
        self.locks: dict[int, asyncio.Lock] = {}

    async def acquire(self, zone: ZoneSpec) -> None:
        if self.leases.get(zone.id, 0) <= 0:
            async with self.locks.setdefault(zone.id, asyncio.Lock()):
                while self.leases.get(zone.id, 0) <= 0:
                    self.leases[zone.id] = await self._lease(zone)
        self.leases[zone.id] -= 1

    async def _lease(self, zone: ZoneSpec) -> int:
        """Take up to a tenth of the zone's per-second budget; wait for the next window if spent."""
        item = RateLimitItemPerSecond(zone.max_qps)
        want = max(1, zone.max_qps // 10)
        for cost in (want, 1):
            if await self.limiter.hit(item, zone.name, cost=cost):
                return cost
        stats = await self.limiter.get_window_stats(item, zone.name)
        await asyncio.sleep(max(0.01, stats.reset_time - time.time()))
        return 0
