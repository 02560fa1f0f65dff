"""Login attempt limiting: failures per client address and per username, in Redis.

When Redis is unreachable the limit is not enforced (and a warning is logged):
operators must still be able to log in to the portal that tells them Redis is down.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def _keys(address: str | None, username: str) -> list[str]:
    return [f"login-fail:addr:{address}", f"login-fail:user:{username.lower()}"]


def login_blocked(address: str | None, username: str) -> bool:
    try:
        counts = cache.get_many(_keys(address, username))
    except RedisError:
        log.warning("login rate limit not enforced: Redis unreachable")
        return False
    return any(count >= settings.LOGIN_RATE_LIMIT for count in counts.values())


def login_failed(address: str | None, username: str) -> None:
    try:
        for key in _keys(address, username):
            if cache.add(key, 1, timeout=settings.LOGIN_RATE_WINDOW):
                continue
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.set(key, 1, timeout=settings.LOGIN_RATE_WINDOW)
    except RedisError:
        log.warning("login failure not counted: Redis unreachable")


def login_succeeded(address: str | None, username: str) -> None:
    try:
        cache.delete_many(_keys(address, username))
    except RedisError:
        log.warning("login failures not reset: Redis unreachable")
