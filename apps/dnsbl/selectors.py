"""Reads for the DNSBL pages and API: current listings, the trend, one IP's history, zone health."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .choices import Outcome, ZoneHealth
from .models import DnsblAutoPause, DnsblChange, DnsblState, DnsblZone

TREND_DAYS = 30


def listings(*, zone: str | None = None, ip: str | None = None, kind: str | None = None) -> QuerySet[DnsblState]:
    """Current listings, newest first; ``zone`` by name, ``kind`` "ip" or "domain"."""
    rows = DnsblState.objects.listed().select_related("ip", "domain", "zone").order_by("-listed_since", "id")
    if zone:
        rows = rows.filter(zone__name=zone)
    if ip:
        rows = rows.filter(ip__address=ip)
    if kind == "ip":
        rows = rows.filter(ip__isnull=False)
    elif kind == "domain":
        rows = rows.filter(domain__isnull=False)
    return rows


def overview_summary() -> dict:
    listed = DnsblState.objects.listed()
    zones = DnsblZone.objects.enabled()
    return {
        "listed_ips": listed.filter(ip__isnull=False).values("ip").distinct().count(),
        "listed_domains": listed.filter(domain__isnull=False).values("domain").distinct().count(),
        "auto_paused": DnsblAutoPause.objects.filter(resumed_at__isnull=True).count(),
        "zones": zones.count(),
        "unhealthy_zones": zones.filter(health=ZoneHealth.UNHEALTHY).count(),
        "last_check": DnsblState.objects.order_by("-checked_at").values_list("checked_at", flat=True).first(),
    }


def resolver_warnings() -> list[DnsblZone]:
    return list(DnsblZone.objects.enabled().filter(error_runs__gte=settings.MAILMON_DNSBL_ERROR_WARN_RUNS))


def listings_by_zone() -> dict:
    """{"zones": [label…], "counts": [n…]} of current listings per enabled zone, most first."""
    rows = (DnsblZone.objects.enabled()
            .annotate(n=Count("states", filter=Q(states__state=Outcome.LISTED)))
            .filter(n__gt=0).order_by("-n", "name"))
    return {"zones": [str(z) for z in rows], "counts": [z.n for z in rows]}


def listing_trend(*, days: int = TREND_DAYS, now: dt.datetime | None = None) -> dict:
    """Listed (target, zone) pairs at the end of each UTC day, rebuilt from the history."""
    now = now or timezone.now()
    start = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    before = (DnsblChange.objects.filter(time__lt=start).exclude(state=Outcome.ERROR)
              .order_by("ip_id", "domain_id", "zone_id", "-time", "-id")
              .distinct("ip_id", "domain_id", "zone_id").values_list("ip_id", "domain_id", "zone_id", "state"))
    listed = {key[:3] for key in before if key[3] == Outcome.LISTED}
    changes = (DnsblChange.objects.filter(time__gte=start, time__lte=now).exclude(state=Outcome.ERROR)
               .order_by("time", "id").values_list("time", "ip_id", "domain_id", "zone_id", "state"))
    buckets, counts, pending = [], [], list(changes)
    day, index = start, 0
    while day <= now:
        end = day + dt.timedelta(days=1)
        while index < len(pending) and pending[index][0] < end:
            _, ip_id, domain_id, zone_id, state = pending[index]
            (listed.add if state == Outcome.LISTED else listed.discard)((ip_id, domain_id, zone_id))
            index += 1
        buckets.append(day.isoformat())
        counts.append(len(listed))
        day = end
    return {"buckets": buckets, "listed": counts, "has_history": bool(pending) or bool(before)}


def ip_states(ip) -> QuerySet[DnsblState]:
    return DnsblState.objects.filter(ip=ip).select_related("zone").order_by("zone__name")


def ip_history(ip) -> QuerySet[DnsblChange]:
    return DnsblChange.objects.filter(ip=ip).select_related("zone").order_by("-time", "-id")


def ip_timeline(ip, *, now: dt.datetime | None = None) -> dict:
    """Listed intervals per zone for one IP: {"intervals": [{zone, start, end, code}…]} (end None = still)."""
    now = now or timezone.now()
    open_since: dict[int, tuple[dt.datetime, str]] = {}
    intervals, names = [], {}
    for change in ip_history(ip).exclude(state=Outcome.ERROR).order_by("time", "id"):
        names[change.zone_id] = str(change.zone)
        if change.zone_id in open_since:
            start, code = open_since.pop(change.zone_id)
            intervals.append({"zone": names[change.zone_id], "start": start, "end": change.time, "code": code})
        if change.state == Outcome.LISTED:
            open_since[change.zone_id] = (change.time, change.code)
    for zone_id, (start, code) in open_since.items():
        intervals.append({"zone": names[zone_id], "start": start, "end": None, "code": code})
    return {"intervals": intervals, "now": now}


def zone_table() -> QuerySet[DnsblZone]:
    return DnsblZone.objects.annotate(
        listed=Count("states", filter=Q(states__state=Outcome.LISTED)),
        erroring=Count("states", filter=Q(states__error_streak__gt=0)),
    ).order_by("-enabled", "kind", "name")


def outcome_counts() -> Counter:
    return Counter(dict(DnsblState.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n")))
