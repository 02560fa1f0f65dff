"""One counter in Redis that moves whenever what the MTAs obey may have changed.

``GET /api/v1/mta/pools`` caches its answer under this version; the IP and pool services
call :func:`mta_changed` on every write, so the next poll rebuilds the answer. The counter
moves at once (a request in the same transaction sees it) and again after commit (a request
that read the old rows before the commit cached them under the first bump, which is then
left behind).
"""

from __future__ import annotations

from django.db import transaction

from apps.core.redis import get_redis

KEY = "mailmon:mta-pools:version"


def mta_version() -> int:
    value = get_redis().get(KEY)
    return int(value) if value else 0


def _bump() -> None:
    get_redis().incr(KEY)


def mta_changed() -> None:
    """Something the MTAs obey changed (status, pool, weight, limit, node): invalidate their answer."""
    _bump()
    transaction.on_commit(_bump)
