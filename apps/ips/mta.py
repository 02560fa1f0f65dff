"""The answer of ``GET /api/v1/mta/pools``, cached: 100 MTAs polling every 10 s cost one build.

Cache key = (version of the IP/pool rows, sent-today epoch, node). The version moves on every
write through the services (``mta_version.py``); the epoch moves every
``MAILMON_MTA_POOLS_SENT_REFRESH`` seconds so the sent-today counters (and who is over quota)
follow the events. The ETag hashes the pools only, so an epoch in which nothing moved keeps
the ETag and pollers keep getting 304.

An MTA with a node-scoped key polling every 10 s meets a new epoch on nearly every poll, so
its answer is rebuilt nearly every time. The fleet-wide rows (every allowed IP with its
sent-today count: the database work) are therefore read once per (version, epoch) and
process, and each node's answer is narrowed from them in Python: 100 node-scoped MTAs cost
one database read per epoch, not 100.
"""

from __future__ import annotations

import datetime as dt
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
from .selectors import MtaPools, mta_pools


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
        answer = _build(node_id, version, epoch)
        timeout = 2 * settings.MAILMON_MTA_POOLS_SENT_REFRESH
        cache.set(key, answer, timeout=timeout)
        get_redis().set(_etag_key(node_id), f"{version} {epoch} {answer.etag}", ex=timeout)
    return answer


# (version, epoch, day) → every pool with every allowed IP, for this process (one entry).
_fleet: dict[tuple[int, int, dt.date], MtaPools] = {}


def _fleet_pools(version: int, epoch: int, day: dt.date) -> MtaPools:
    key = (version, epoch, day)
    fleet = _fleet.get(key)
    if fleet is None:
        fleet = mta_pools(day=day)
        _fleet.clear()  # only the current one is ever asked for again
        _fleet[key] = fleet
    return fleet


def _narrow(fleet: MtaPools, node_id: int | None) -> list[dict]:
    """The pools with the IPs of one node (all for None)."""
    if node_id is None:
        return fleet.pools
    return [{**pool, "ips": [ip for ip in pool["ips"] if fleet.node_of[ip["address"]] == node_id]}
            for pool in fleet.pools]  # fmt: skip


def _build(node_id: int | None, version: int, epoch: int) -> MtaAnswer:
    now = timezone.now()
    pools = _narrow(_fleet_pools(version, epoch, now.date()), node_id)
    digest = hashlib.sha256(json.dumps(pools, sort_keys=True).encode()).hexdigest()[:32]
    generated = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = json.dumps({"generated_at": generated, "pools": pools}, separators=(",", ":")).encode()
    return MtaAnswer(etag=f'"{digest}"', body=body)
