"""Reads about sending IPs: what each sent today (from the event rollups) and what the MTAs obey."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, F, Func, IntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from apps.dnsbl.selectors import listings
from apps.events.models.rollups import table_name
from apps.pools.models import IpPool

from .choices import IpStatus
from .filters import NO_POOL, IpFilters
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


@dataclass(frozen=True)
class MtaPools:
    """Every pool with the IPs allowed to send now, and the node of each of those IPs."""

    pools: list[dict]
    node_of: dict[str, int | None]  # address → node id


def mta_pools(*, day: dt.date) -> MtaPools:
    """Every pool with the IPs allowed to send now: active and under their daily limit.

    ``node_of`` lets one node's answer be cut from this one (``apps/ips/mta.py``); pools are
    listed all the same, so an MTA knows a pool it serves has no allowed IP and holds or
    falls back.
    """
    sent = sent_today_by_ip(day=day)
    ips = SendingIP.objects.filter(status=IpStatus.ACTIVE, pool__isnull=False)
    members: dict[int, list[dict]] = {}
    node_of: dict[str, int | None] = {}
    rows = ips.order_by("address").values_list(
        "address", "pool_id", "node_id", "node__hostname", "weight", "daily_limit"
    )
    for address, pool_id, node_id, hostname, weight, limit in rows:
        used = sent.get(address, 0)
        remaining = None if limit is None else limit - used
        if remaining is not None and remaining <= 0:
            continue
        members.setdefault(pool_id, []).append({
            "address": address, "version": 6 if ":" in address else 4, "node": hostname, "weight": weight,
            "daily_limit": limit, "sent_today": used, "remaining": remaining,
        })  # fmt: skip
        node_of[address] = node_id
    pools = IpPool.objects.order_by("name").values_list("id", "name", "type")
    return MtaPools(
        pools=[{"id": pk, "name": name, "type": kind, "ips": members.get(pk, [])} for pk, name, kind in pools],
        node_of=node_of,
    )


# --- The IP table: filters, sorting, one page with its figures ---

_PLAIN_SORTS = {
    "address": "address", "status": "status", "node": "node__hostname", "pool": "pool__name",
    "weight": "weight", "warmup_day": "warmup_day", "daily_limit": "daily_limit",
    "reputation": "reputation_score", "ptr": "ptr", "last_used": "last_used_at",
}  # fmt: skip
_STAT_SORTS = ("sent_1h", "sent_24h", "bounce_rate", "sent_today")
SORTS = (*_PLAIN_SORTS, *_STAT_SORTS)
_SENT_SQL = " + ".join(f"r.{c}" for c in SENT_COLUMNS)
FIGURES_CACHE_KEY = "mailmon:ips:figures"  # + ":<window>"
WINDOWS = ("sent_1h", "sent_24h", "sent_today")  # the figures' windows (bounce % is over sent_24h)


def ip_queryset(filters: IpFilters) -> QuerySet[SendingIP]:
    """The IPs matching ``filters``."""
    ips = SendingIP.objects.all()
    if filters.status:
        ips = ips.filter(status=filters.status)
    if filters.ptr_status:
        ips = ips.filter(ptr_status=filters.ptr_status)
    if filters.pool == NO_POOL:
        ips = ips.filter(pool__isnull=True)
    elif filters.pool is not None:
        ips = ips.filter(pool_id=filters.pool)
    if filters.node is not None:
        ips = ips.filter(node_id=filters.node)
    if filters.version is not None:
        ips = ips.annotate(family=Func(F("address"), function="family", output_field=IntegerField()))
        ips = ips.filter(family=filters.version)
    network = filters.network
    if network is not None:
        contained = f"{SendingIP._meta.db_table}.address <<= %s::inet"
        ips = ips.filter(RawSQL(contained, [str(network)], output_field=BooleanField()))
    elif filters.q:
        ips = ips.filter(Q(address__startswith=filters.q) | Q(ptr__icontains=filters.q))
    return ips


def _windows(now: dt.datetime) -> dict[str, tuple[str, dt.datetime]]:
    """Each figure's rollup table and first bucket: 1 h from 5-minute buckets, 24 h from hourly."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    five = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    return {
        "sent_1h": (table_name("flow", "ip", "5m"), five - dt.timedelta(minutes=55)),
        "sent_24h": (table_name("flow", "ip", "1h"), hour - dt.timedelta(hours=23)),
        "sent_today": (table_name("flow", "ip", "1d"), now.replace(hour=0, minute=0, second=0, microsecond=0)),
    }


Sums = dict[str, tuple[int, int]]  # address → (attempts, bounced) over one window


def _window_sums(now: dt.datetime, windows: tuple[str, ...], addresses: list[str] | None = None) -> dict[str, Sums]:
    """Per window (``sent_1h``, ``sent_24h``, ``sent_today``), each address's attempts and bounces,
    in one statement: the window's rollup summed per IP (GROUP BY, one pass over its rows); for
    every address that sent, or for ``addresses`` only."""
    only = "" if addresses is None else " AND r.sending_ip = ANY(%s::inet[])"
    parts, params = [], []
    for name, (table, since) in _windows(now).items():
        if name in windows:
            parts.append(
                f"SELECT '{name}', host(r.sending_ip), sum({_SENT_SQL}), sum(r.n_bounced) FROM {table} AS r "
                f"WHERE r.bucket >= %s AND r.sending_ip IS NOT NULL{only} GROUP BY r.sending_ip"  # host() per IP
            )
            params += [since] if addresses is None else [since, addresses]
    sums: dict[str, Sums] = {name: {} for name in windows}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for name, address, sent, bounced in cursor.fetchall():
            sums[name][address] = (int(sent or 0), int(bounced or 0))
    return sums


def ip_window_sums(window: str) -> Sums:
    """Every IP's attempts and bounces over one window, kept in the cache (shared by every
    process) for ``MAILMON_IP_FIGURES_CACHE_SECONDS``: sorting the IP table by a figure needs
    every matching IP's, and summing a day of hourly rollups for 5,000 IPs takes ~100 ms."""
    ttl = settings.MAILMON_IP_FIGURES_CACHE_SECONDS
    key = f"{FIGURES_CACHE_KEY}:{window}"
    sums = cache.get(key) if ttl else None
    if sums is None:
        sums = _window_sums(timezone.now(), (window,))[window]
        if ttl:
            cache.set(key, sums, timeout=ttl)
    return sums


def _stats(address: str, sums: dict[str, Sums]) -> dict:
    sent_24h, bounced = sums["sent_24h"].get(address, (0, 0))
    rate = bounced / sent_24h if sent_24h else None
    return {"sent_1h": sums["sent_1h"].get(address, (0, 0))[0], "sent_24h": sent_24h,
            "sent_today": sums["sent_today"].get(address, (0, 0))[0], "bounced_24h": bounced,
            "bounce_rate": rate, "bounce_pct": None if rate is None else 100 * rate}  # fmt: skip


def ip_stats(addresses: list[str], *, now: dt.datetime | None = None) -> dict[str, dict]:
    """Sent 1 h / 24 h / today and the 24 h bounce rate of each address, in one statement."""
    sums = _window_sums(now or timezone.now(), WINDOWS, addresses)
    return {address: _stats(address, sums) for address in addresses}


def _by_figure(rows: list[tuple[int, str]], sums: Sums, key: str, descending: bool) -> list[int]:
    """The ids of ``rows`` (id, address; in address order, which the stable sort keeps for ties)
    ordered by a figure of ``sums``. Counts without a figure are 0; a bounce rate without sends
    comes last in both directions."""
    sign, zero = -1 if descending else 1, (0, 0)

    def order(row: tuple[int, str]) -> tuple[bool, float]:
        sent, bounced = sums.get(row[1], zero)
        if key != "bounce_rate":
            return False, sign * sent
        return (False, sign * bounced / sent) if sent else (True, 0)

    return [pk for pk, _ in sorted(rows, key=order)]


def ip_table(*, filters: IpFilters, sort: str = "address", page: int = 1, page_size: int = 50) -> dict:
    """One page of the IP table: the IPs with node, pool, figures and current DNSBL listings.

    Plain columns sort in SQL on the IP rows; figure columns (``sent_24h`` …) sort the matching
    IPs in Python on every IP's sums of that window, cached (:func:`ip_window_sums`); the rows
    show that window from the same sums and the other figures from their page's own query.
    """
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    ips = ip_queryset(filters)
    offset = (page - 1) * page_size
    window, snapshot = None, None
    if key in _STAT_SORTS:  # every matching IP's id and address, ordered here by its figure
        window = "sent_24h" if key == "bounce_rate" else key
        snapshot = ip_window_sums(window)
        matching = list(ips.order_by("address").values_list("id", "address"))
        count = len(matching)
        ids = _by_figure(matching, snapshot, key, descending)[offset : offset + page_size]
        found = SendingIP.objects.select_related("node", "pool").in_bulk(ids)
        rows = [found[pk] for pk in ids if pk in found]
    else:
        count = ips.count()
        field = F(_PLAIN_SORTS[key])
        order = field.desc(nulls_last=True) if descending else field.asc(nulls_last=True)
        rows = list(ips.select_related("node", "pool").order_by(order, "address")[offset : offset + page_size])
    others = tuple(w for w in WINDOWS if w != window)  # the page's own figures; the sorted one from its sums
    sums = _window_sums(timezone.now(), others, [ip.address for ip in rows]) if rows else {}
    if snapshot is not None:
        sums[window] = snapshot  # the sorted column shows the figures it is sorted by
    listed: dict[int, list[str]] = {}
    for ip_id, zone in listings().filter(ip_id__in=[ip.pk for ip in rows]).values_list("ip_id", "zone__name"):
        listed.setdefault(ip_id, []).append(zone)
    for ip in rows:
        ip.stats = _stats(ip.address, sums)
        ip.listings = sorted(listed.get(ip.pk, []))
    return {"count": count, "page": page, "page_size": page_size, "results": rows}


# --- Warmup: one day's outcome per IP, and the curve of one IP ---


def ip_day_outcomes(*, day: dt.date, addresses: list[str] | None = None) -> dict[str, dict]:
    """Per address, one UTC day: sent, bounced (+ rejected), deferred, and the commonest deferral
    (``enhanced status`` + category, e.g. Gmail's 4.7.28 rate limiting) from the IP rollups."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    only = " AND r.sending_ip = ANY(%s::inet[])" if addresses is not None else ""
    extra = [addresses] if addresses is not None else []
    flow = (
        f"SELECT host(r.sending_ip), sum({_SENT_SQL}), sum(r.n_bounced + r.n_rejected), sum(r.n_deferred) "
        f"FROM {table_name('flow', 'ip', '1d')} AS r WHERE r.bucket = %s AND r.sending_ip IS NOT NULL{only} GROUP BY 1"
    )
    reasons = (
        "SELECT DISTINCT ON (1) host(r.sending_ip), r.enhanced_status, r.bounce_category, sum(r.n) "
        f"FROM {table_name('reason', 'ip', '1d')} AS r WHERE r.bucket = %s AND r.type = 'deferred' "
        f"AND r.sending_ip IS NOT NULL{only} GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC"
    )
    out: dict[str, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(flow, [start, *extra])
        for address, sent, bounced, deferred in cursor.fetchall():
            out[address] = {"sent": int(sent), "bounced": int(bounced), "deferred": int(deferred), "top_deferral": ""}
        cursor.execute(reasons, [start, *extra])
        for address, enhanced, category, n in cursor.fetchall():
            if address in out:
                out[address]["top_deferral"] = f"{enhanced or '?'} {category or 'unclassified'} ×{n}"
    return out


def ip_daily_sent(*, address: str, since: dt.date, until: dt.date) -> dict[dt.date, int]:
    """Attempts per UTC day of one IP, ``since`` ≤ day ≤ ``until``."""
    sql = (
        f"SELECT r.bucket, sum({_SENT_SQL}) FROM {table_name('flow', 'ip', '1d')} AS r "
        "WHERE r.sending_ip = %s::inet AND r.bucket >= %s AND r.bucket <= %s GROUP BY 1"
    )
    bounds = [dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC) for d in (since, until)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [address, *bounds])
        return {bucket.date(): int(n) for bucket, n in cursor.fetchall()}


def warmup_performing_well(*, addresses: list[str], today: dt.date, good_rate: float, days: int = 3) -> set[str]:
    """The addresses that sent on each of the last ``days`` days with a bounce rate under ``good_rate``."""
    well = set(addresses)
    for back in range(1, days + 1):
        outcomes = ip_day_outcomes(day=today - dt.timedelta(days=back), addresses=addresses)
        well = {a for a in well if (o := outcomes.get(a)) and o["sent"] and o["bounced"] / o["sent"] < good_rate}
    return well


# --- Warmup holds: which warming IPs the daily step holds on their day now (alerts read this) ---

# The audited warmup decisions (apps/ips/services_warmup.py): the latest one tells whether an IP is held.
WARMUP_DECISION_ACTIONS = ("ip.warmup", "ip.warmup_hold", "ip.warmup_advance", "ip.warmup_complete")


def warmup_holds() -> list[dict]:
    """Every IP in warmup with ``held``: its latest warmup decision is a hold on the day it is still
    on (a later advance, a manual move or an edit of the day clears it), the hold's time and reason,
    and its node, role and pool. One query."""
    from apps.core.models import AuditLog
    from apps.nodes.models import Node

    actions = ", ".join(f"'{action}'" for action in WARMUP_DECISION_ACTIONS)
    sql = f"""
SELECT host(s.address), coalesce(n.hostname, ''), coalesce(n.role, ''), coalesce(p.name, ''),
       coalesce(h.action = 'ip.warmup_hold' AND (h.after ->> 'warmup_day')::int = s.warmup_day, false),
       h.time, coalesce(h.reason, '')
FROM {SendingIP._meta.db_table} s
LEFT JOIN {Node._meta.db_table} n ON n.id = s.node_id
LEFT JOIN {IpPool._meta.db_table} p ON p.id = s.pool_id
LEFT JOIN LATERAL (
    SELECT a.action, a.after, a.time, a.reason FROM {AuditLog._meta.db_table} a
    WHERE a.object_type = %s AND a.object_id = s.id::text AND a.action IN ({actions})
    ORDER BY a.time DESC, a.id DESC LIMIT 1
) h ON true
WHERE s.warmup_schedule_id IS NOT NULL
"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [SendingIP._meta.label_lower])
        rows = cursor.fetchall()
    return [
        {"address": address, "node": node, "role": role, "pool": pool, "held": held,
         "since": since if held else None, "reason": reason if held else ""}
        for address, node, role, pool, held, since, reason in rows
    ]
