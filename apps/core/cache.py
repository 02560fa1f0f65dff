"""Django's Redis cache, counting hits and misses per cache for ``/metrics``.

``mailmon_cache_requests_total{cache,result}``: ``cache`` is the key's first segment
(``mta-pools:…`` → ``mta-pools``, ``alerts:firing`` → ``alerts``), ``result`` is ``hit`` or
``miss``. During a request the count rides the request's own Redis round trip
(``apps.core.request_metrics``); elsewhere (Celery, commands) it is one HINCRBY.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.cache.backends.redis import RedisCache

from .metrics import CACHE_REQUESTS, counter_inc

_MISSING = object()


class MeteredRedisCache(RedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        value = super().get(key, _MISSING, version)
        hit = value is not _MISSING
        with contextlib.suppress(Exception):  # a counter must never fail a cache read
            counter_inc(CACHE_REQUESTS, cache=str(key).split(":", 1)[0], result="hit" if hit else "miss")
        return value if hit else default
