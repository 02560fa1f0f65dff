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

from .mta_version import mta_version
from .selectors import mta_pools


@dataclass(frozen=True)
class MtaAnswer:
    etag: str  # quoted, as sent in the ETag header
    body: bytes


def mta_pools_answer(*, node_id: int | None) -> MtaAnswer:
    refresh = settings.MAILMON_MTA_POOLS_SENT_REFRESH
    key = f"mta-pools:{mta_version()}:{int(time.time()) // refresh}:{node_id or 'fleet'}"
    answer = cache.get(key)
    if answer is None:
        answer = _build(node_id)
        cache.set(key, answer, timeout=2 * refresh)
    return answer


def _build(node_id: int | None) -> MtaAnswer:
    now = timezone.now()
    pools = mta_pools(node_id=node_id, day=now.date())
    digest = hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()[:32]
    generated = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = json.dumps({"generated_at": generated, "pools": pools}, separators=(",", ":")).encode()
    return MtaAnswer(etag=f'"{digest}"', body=body)
