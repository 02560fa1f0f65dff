"""Reads for the pools page: each pool with its IP counts and 24-hour figures from the event rollups."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.events.selectors import stats
from apps.events.time_range import EventFilters, TimeRange
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP

from .models import IpPool


def pools_counted() -> QuerySet[IpPool]:
    """Pools with their IPs counted: total, active, paused."""
    return IpPool.objects.annotate(
        ip_count=Count("ips"), active_ips=Count("ips", filter=Q(ips__status=IpStatus.ACTIVE)),
        paused_ips=Count("ips", filter=Q(ips__status=IpStatus.PAUSED)),
    ).order_by("name")  # fmt: skip


def pool_overview(*, now: dt.datetime | None = None) -> list[IpPool]:
    """Every pool with counts plus sent, bounce rate and delivery-time p95 over the last 24 hours
    (one rollup query per pool, through the email-flow selectors)."""
    now = now or timezone.now()
    window = TimeRange(start=now - dt.timedelta(hours=24), end=now)
    pools = list(pools_counted())
    for pool in pools:
        figures = stats(time_range=window, filters=EventFilters(pool=pool.pk))
        pool.sent_24h = figures["sent"]
        pool.bounce_rate = figures["bounced_rate"]
        pool.p95_ms = figures["delivery_time_ms"]["p95"]
    return pools


def pool_members(pool: IpPool) -> QuerySet[SendingIP]:
    return pool.ips.select_related("node").order_by("address")
