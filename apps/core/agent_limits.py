"""Per-key request rate limits for the agents' endpoints (429 + Retry-After), kept in Redis.

The counting is the ``limits`` library's (maintained; the engine behind Flask-Limiter and
slowapi): a sliding-window counter, two Redis keys and one atomic Lua call per request,
shared by every process.  Each key's limit is ``AgentAPIKey.rate_limit`` ("20/second",
"1200/minute"), or ``MAILMON_AGENT_RATE_LIMIT`` when empty.

Fail open: with Redis down the limit is not enforced (and that is logged once), because
refusing every shipper during a Redis outage would turn a cache problem into data
loss.  Short socket timeouts keep a hung Redis from holding requests.
"""

from __future__ import annotations

import logging
import math
import time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger(__name__)

KEY_PREFIX = "mailmon:agent-rate"
_state = {"failing": False}


def validate_rate_limit(value: str) -> None:
    """Model/form validator: one limit in ``limits`` notation, e.g. "20/second" or "600 per minute"."""
    try:
        item = parse(value)
    except ValueError:
        raise ValidationError(
            f"{value!r} is not a rate limit; write e.g. 20/second, 600/minute or 10 per 5 seconds."
        ) from None
    if item.amount < 1:
        raise ValidationError("A rate limit allows at least 1 request.")


def agent_rate_check(*, key_id: str, rate: str | None) -> int | None:
    """Count one request of API key ``key_id``; None if allowed, else seconds to wait (Retry-After)."""
    item = _item(rate or settings.MAILMON_AGENT_RATE_LIMIT)
    if item is None:
        return None
    limiter = _limiter()
    try:
        if limiter.hit(item, key_id):
            _recovered()
            return None
        stats = limiter.get_window_stats(item, key_id)
    except Exception:
        _failed()
        return None
    return max(1, math.ceil(stats.reset_time - time.time()))


@lru_cache(maxsize=256)
def _item(rate: str) -> RateLimitItem | None:
    try:
        return parse(rate)
    except ValueError:  # validated on save; an unparsable setting must not break ingest
        log.error("ignoring unparsable agent rate limit %r", rate)
        return None


@lru_cache(maxsize=1)
def _limiter() -> SlidingWindowCounterRateLimiter:
    url = settings.CACHES["default"]["LOCATION"]
    if url.startswith("unix://"):
        url = "redis+unix://" + url.removeprefix("unix://")
    timeout = settings.MAILMON_AGENT_RATE_LIMIT_TIMEOUT
    storage = RedisStorage(url, key_prefix=KEY_PREFIX, socket_timeout=timeout, socket_connect_timeout=timeout)
    return SlidingWindowCounterRateLimiter(storage)


def _failed() -> None:
    if not _state["failing"]:
        log.warning("agent rate limits not enforced: Redis unavailable", exc_info=True)
    _state["failing"] = True


def _recovered() -> None:
    if _state["failing"]:
        log.warning("agent rate limits enforced again")
    _state["failing"] = False
