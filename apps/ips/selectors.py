"""Reads about sending IPs: what each sent today (from the event rollups) and what the MTAs obey."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Q

from apps.events.models.rollups import table_name
from apps.pools.models import IpPool

from .choices import IpStatus
from .models import SendingIP

# Outcomes of a delivery attempt from an IP: what counts against its daily limit.
SENT_COLUMNS = ("n_delivered", "n_bounced", "n_deferred", "n_rejected")


def sent_today_by_ip(*, day: dt.date) -> dict[str, int]:
    """Attempts per sending IP on one UTC day (daily rollup, ≤ 30 s behind ingest), keyed by address."""
    total = " + ".join(SENT_COLUMNS)
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    sql = (
        f"SELECT host(sending_ip), sum({total}) FROM {table_name('flow', 'ip', '1d')} "
        "WHERE bucket = %s AND sending_ip IS NOT NULL GROUP BY 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [start])
        return {address: int(n) for address, n in cursor.fetchall()}


def mta_pools(*, node_id: int | None, day: dt.date) -> list[dict]:
    """Every pool with the IPs allowed to send now: active and under their daily limit.

    ``node_id`` narrows the IPs to one node's (pools are listed all the same, so an MTA
    knows a pool it serves has no allowed IP and holds or falls back).
    """
    sent = sent_today_by_ip(day=day)
    ips = SendingIP.objects.filter(status=IpStatus.ACTIVE, pool__isnull=False)
    if node_id is not None:
        ips = ips.filter(Q(node_id=node_id))
    members: dict[int, list[dict]] = {}
    rows = ips.order_by("address").values_list("address", "pool_id", "node__hostname", "weight", "daily_limit")
    for address, pool_id, hostname, weight, limit in rows:
        used = sent.get(address, 0)
        remaining = None if limit is None else limit - used
        if remaining is not None and remaining <= 0:
            continue
        members.setdefault(pool_id, []).append({
            "address": address, "version": 6 if ":" in address else 4, "node": hostname, "weight": weight,
            "daily_limit": limit, "sent_today": used, "remaining": remaining,
        })  # fmt: skip
    pools = IpPool.objects.order_by("name").values_list("id", "name", "type")
    return [{"id": pk, "name": name, "type": kind, "ips": members.get(pk, [])} for pk, name, kind in pools]
