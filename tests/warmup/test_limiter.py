"""The Redis limits: all or nothing across buckets, waits, day counters."""

from __future__ import annotations

from datetime import UTC, datetime

from apps.core.redis import get_redis
from apps.warmup.limiter import Limiter, bucket, per_day


def test_a_bucket_lets_its_burst_through_then_asks_to_wait():
    limiter = Limiter(get_redis(), prefix="t:")
    limits = [bucket("g", 5, 60)]
    assert [limiter.acquire(limits) for _ in range(5)] == [0] * 5
    wait = limiter.acquire(limits)
    assert 11 <= wait <= 12.1  # one token per 12 s


def test_a_refused_limit_charges_none_of_the_others():
    limiter = Limiter(get_redis(), prefix="t:")
    user = bucket("user:1", 1, 3600)
    assert limiter.acquire([bucket("global", 10, 60), user]) == 0
    assert limiter.acquire([bucket("global", 10, 60), user]) > 0
    # the refused attempt did not take a global token: 9 remain
    assert [limiter.acquire([bucket("global", 10, 60)]) for _ in range(10)].count(0) == 9


def test_a_day_counter_allows_its_limit_until_midnight():
    limiter = Limiter(get_redis(), prefix="t:")
    now = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert [limiter.acquire([per_day("m", 2, now)]) for _ in range(3)][:2] == [0, 0]
    assert 3599 <= limiter.acquire([per_day("m", 2, now)]) <= 3600
    tomorrow = datetime(2026, 12, 2, 0, 1, tzinfo=UTC)
    assert limiter.acquire([per_day("m", 2, tomorrow)]) == 0


def test_a_chunk_takes_its_sends_in_order_each_all_or_nothing_in_one_call():
    limiter = Limiter(get_redis(), prefix="t:")
    glob = bucket("global", 10, 60)
    user1, user2 = bucket("user:1", 2, 3600), bucket("user:2", 2, 3600)
    waits = limiter.acquire_many([[glob, user1], [glob, user1], [glob, user1], [glob, user2]])
    assert waits[:2] == [0, 0] and waits[2] > 0 and waits[3] == 0
    # three sends took a global token; the refused one did not
    assert [limiter.acquire([glob]) for _ in range(8)].count(0) == 7
    assert limiter.acquire_many([]) == []
