"""Send limits shared by every worker: token buckets and day counters in Redis, checked and
taken together by one Lua script (atomic: either every limit has room and all are charged,
or none is charged and the caller learns how long to wait).

Why a script and not the ``limits`` package: ``limits`` offers fixed/moving/sliding windows,
not token buckets, and charges one limit per call — a send refused by the per-user limit
would already have used a global token. Taking five limits at once, all or nothing, in one
round trip is what this ~30-line script does.

A bucket holding ``limit`` tokens refills at ``limit`` per ``period``: over any span *t*
at most ``limit + limit·t/period`` sends pass. A day counter allows ``limit`` per UTC day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis

SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local state = {}
for i, key in ipairs(KEYS) do
  local kind = ARGV[3 * i - 2]
  local limit = tonumber(ARGV[3 * i - 1])
  local span = tonumber(ARGV[3 * i])
  if kind == 'b' then
    local s = redis.call('HMGET', key, 'tokens', 'ts')
    local tokens = tonumber(s[1]) or limit
    local ts = tonumber(s[2]) or now
    tokens = math.min(limit, tokens + (now - ts) * limit / span)
    if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * span / limit)) end
    state[i] = tokens
  else
    local used = tonumber(redis.call('GET', key) or '0')
    if used >= limit then wait = math.max(wait, span) end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local kind = ARGV[3 * i - 2]
  local span = tonumber(ARGV[3 * i])
  if kind == 'b' then
    redis.call('HSET', key, 'tokens', state[i] - 1, 'ts', now)
    redis.call('PEXPIRE', key, span * 2)
  else
    redis.call('INCR', key)
    redis.call('PEXPIRE', key, span + 3600000)
  end
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    """``kind`` "b": a bucket of ``limit`` per ``period_ms``; "d": ``limit`` per UTC day
    (``period_ms`` is then the time left until midnight)."""

    key: str
    kind: str
    limit: int
    period_ms: int


def bucket(key: str, limit: int, period_seconds: int) -> Limit:
    return Limit(key, "b", limit, period_seconds * 1000)


def per_day(key: str, limit: int, now: dt.datetime) -> Limit:
    midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return Limit(f"{key}:{now:%Y%m%d}", "d", limit, max(1, int((midnight - now).total_seconds() * 1000)))


class Limiter:
    def __init__(self, client: redis.Redis, prefix: str = "warmup:lim:") -> None:
        self.prefix = prefix
        self._script = client.register_script(SCRIPT)

    def acquire(self, limits: list[Limit]) -> float:
        """Take one send from every limit; returns 0 when taken, else seconds to wait (nothing taken)."""
        args: list = []
        for item in limits:
            args += [item.kind, item.limit, item.period_ms]
        wait_ms = self._script(keys=[self.prefix + item.key for item in limits], args=args)
        return int(wait_ms) / 1000
