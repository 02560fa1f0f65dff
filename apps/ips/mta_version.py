"""One counter in Redis that moves whenever what the MTAs obey may have changed.

``GET /api/v1/mta/pools`` caches its answer under this version; the IP and pool services
call :func:`mta_changed` on every write, so the next poll rebuilds the answer. The counter
moves at once (a request in the same transaction sees it) and again after commit (a request
that read the old rows before the commit cached them under the first bump, which is then
left behind).

The counter starts at a random number (when the key is missing: first use, or Redis lost
it), never at 0, so that a version seen before Redis lost the key is not seen again and no
process mistakes what it kept in memory for that version (``mta.py``) for the current answer.
"""

from __future__ import annotations

import secrets

from django.db import transaction

from apps.core.redis import get_redis

KEY = "mailmon:mta-pools:version"


def _fresh_start() -> int:
    return secrets.randbelow(2**48) + 1


def mta_version() -> int:
    redis = get_redis()
    value = redis.get(KEY)
    if value is None:
        redis.set(KEY, _fresh_start(), nx=True)
        value = redis.get(KEY)
    return int(value)


def _bump() -> None:
    with get_redis().pipeline() as pipe:  # one round trip; MULTI/EXEC
        pipe.set(KEY, _fresh_start(), nx=True)
        pipe.incr(KEY)
        pipe.execute()


def mta_changed() -> None:
    """Something the MTAs obey changed (status, pool, weight, limit, node): invalidate their answer."""
    _bump()
    transaction.on_commit(_bump)
