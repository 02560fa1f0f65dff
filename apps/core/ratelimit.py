"""Login attempt limiting: failures per client address and per username, in Redis."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _keys(address: str | None, username: str) -> list[str]:
    return [f"login-fail:addr:{address}", f"login-fail:user:{username.lower()}"]


def login_blocked(address: str | None, username: str) -> bool:
    counts = cache.get_many(_keys(address, username))
    return any(count >= settings.LOGIN_RATE_LIMIT for count in counts.values())


def login_failed(address: str | None, username: str) -> None:
    for key in _keys(address, username):
        if cache.add(key, 1, timeout=settings.LOGIN_RATE_WINDOW):
            continue
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.LOGIN_RATE_WINDOW)


def login_succeeded(address: str | None, username: str) -> None:
    cache.delete_many(_keys(address, username))
