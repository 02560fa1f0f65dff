"""Send limits shared by every worker: token buckets and day counters in Redis, checked and
taken together by one Lua script (atomic: either every limit has room and all are charged,
or none is charged and the caller learns how long to wait).

Why a script and not the ``limits`` package: ``limits`` offers fixed/moving/sliding windows,
not token buckets, and charges one limit per call — a send refused by the per-user limit
would already have used a global token. Taking five limits at once, all or nothing, for a
whole chunk of sends in one round trip is what this ~40-line script does.

A bucket holding ``limit`` tokens refills at ``limit`` per ``period``: over any span *t*
at most ``limit + limit·t/period`` sends pass. A day counter allows ``limit`` per UTC day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import redis

# ARGV: the number of sends, then per send its number of limits and (kind, limit, span) per
# limit; KEYS: every send's limit keys, in the same order. Sends are taken in order, each
# all or nothing; the state lives in Lua tables and is written back once at the end.
SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens, used, span_of, kind_of = {}, {}, {}, {}
local waits = {}
local a, k = 2, 1
for s = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local wait = 0
  for i = 0, n - 1 do
    local key, kind = KEYS[k + i], ARGV[a + 1 + 3 * i]
    local limit, span = tonumber(ARGV[a + 2 + 3 * i]), tonumber(ARGV[a + 3 + 3 * i])
    kind_of[key], span_of[key] = kind, span
    if kind == 'b' then
      if tokens[key] == nil then
        local h = redis.call('HMGET', key, 'tokens', 'ts')
        local have, ts = tonumber(h[1]) or limit, tonumber(h[2]) or now
        tokens[key] = math.min(limit, have + (now - ts) * limit / span)
      end
      if tokens[key] < 1 then wait = math.max(wait, math.ceil((1 - tokens[key]) * span / limit)) end
    else
      if used[key] == nil then used[key] = tonumber(redis.call('GET', key) or '0') end
      if used[key] >= limit then wait = math.max(wait, span) end
    end
  end
  if wait == 0 then
    for i = 0, n - 1 do
      local key = KEYS[k + i]
      if kind_of[key] == 'b' then tokens[key] = tokens[key] - 1 else used[key] = used[key] + 1 end
    end
  end
  waits[s] = wait
  a, k = a + 1 + 3 * n, k + n
end
for key, value in pairs(tokens) do
  redis.call('HSET', key, 'tokens', tostring(value), 'ts', now)
  redis.call('PEXPIRE', key, span_of[key] * 2)
end
for key, value in pairs(used) do
  redis.call('SET', key, value, 'PX', span_of[key] + 3600000)
end
return waits
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
        return self.acquire_many([limits])[0]

    def acquire_many(self, sends: list[list[Limit]]) -> list[float]:
        """:meth:`acquire` for several sends in one round trip, in order: each send is all or nothing."""
        if not sends:
            return []
        keys: list[str] = []
        args: list = [len(sends)]
        for limits in sends:
            args.append(len(limits))
            for item in limits:
                keys.append(self.prefix + item.key)
                args += [item.kind, item.limit, item.period_ms]
        return [int(wait_ms) / 1000 for wait_ms in self._script(keys=keys, args=args)]
