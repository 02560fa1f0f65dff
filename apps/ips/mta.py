"""The answer of ``GET /api/v1/mta/pools``, cached: 100 MTAs polling every 10 s cost one build.

Cache key = (version of the IP/pool rows, sent-today epoch, node). The version moves on every
write through the services (``mta_version.py``); the epoch moves every
``MAILMON_MTA_POOLS_SENT_REFRESH`` seconds so the sent-today counters (and who is over quota)
follow the events. The ETag hashes the pools only, so an epoch in which nothing moved keeps
the ETag and pollers keep getting 304.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from apps.core.redis import get_redis

from .mta_version import KEY as VERSION_KEY
from .mta_version import mta_version
from .selectors import mta_pools


@dataclass(frozen=True)
class MtaAnswer:
    etag: str  # quoted, as sent in the ETag header
    body: bytes


def _epoch() -> int:
    return int(time.time()) // settings.MAILMON_MTA_POOLS_SENT_REFRESH


def _etag_key(node_id: int | None) -> str:
    return f"mailmon:mta-pools:etag:{node_id or 'fleet'}"


def mta_pools_etag(*, node_id: int | None) -> str | None:
    """The ETag of the current answer when one is cached, in ONE Redis round trip (the 304 path
    reads neither the body nor PostgreSQL); None when the answer must be (re)built."""
    version, state = get_redis().mget([VERSION_KEY, _etag_key(node_id)])
    if state is None:
        return None
    built_version, built_epoch, etag = state.decode().split(" ", 2)
    if int(built_version) != int(version or 0) or int(built_epoch) != _epoch():
        return None
    return etag


def mta_pools_answer(*, node_id: int | None) -> MtaAnswer:
    version, epoch = mta_version(), _epoch()
    key = f"mta-pools:{version}:{epoch}:{node_id or 'fleet'}"
    answer = cache.get(key)
    if answer is None:
        answer = _build(node_id)
        timeout = 2 * settings.MAILMON_MTA_POOLS_SENT_REFRESH
        cache.set(key, answer, timeout=timeout)
        get_redis().set(_etag_key(node_id), f"{version} {epoch} {answer.etag}", ex=timeout)
    return answer


def _build(node_id: int | None) -> MtaAnswer:
    now = timezone.now()
    pools = mta_pools(node_id=node_id, day=now.date())
    digest = hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()[:32]
    generated = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = json.dumps({"generated_at": generated, "pools": pools}, separators=(",", ":")).encode()
    return MtaAnswer(etag=f'"{digest}"', body=body)
