"""Reads about MTA nodes' mail: the ZoneMTA cluster API (``/api/v1/zonemta/nodes…``) and the node
page's Performance, IPs and Destinations tabs both read through here.

Every mail figure comes from ``apps.events.selectors`` filtered by the node (the rollups, or
the raw events where no rollup holds node + recipient domain); sending-IP figures from
``apps.ips.selectors.ip_stats``; health from ``attention.fleet_health`` (the one health
notion). Nothing here writes, and no rollup SQL is repeated.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, QuerySet
from django.utils import timezone

from apps.events import selectors as event_selectors
from apps.events.selectors import SENT_TYPES
from apps.events.time_range import EventFilters, TimeRange
from apps.ips.selectors import ip_stats

from . import attention
from .choices import NodeRole
from .models import Node

BOUNCE_TYPES = ("bounced", "rejected")  # what the node pages call the bounce rate
TOP_DEFERRALS = 3


def zonemta_nodes() -> QuerySet[Node]:
    """The fleet's ZoneMTA nodes (approved ones), with their sending-IP count."""
    return Node.objects.fleet().filter(role=NodeRole.ZONEMTA).annotate(ip_count=Count("ips")).order_by("hostname")


def _mail(stats: dict | None) -> dict[str, int]:
    stats = stats or {}
    return {key: int(stats.get(key, 0)) for key in ("sent", *SENT_TYPES)}


def _rates(mail: dict[str, int]) -> dict[str, float | None]:
    sent = mail["sent"]
    return {
        "delivery": mail["delivered"] / sent if sent else None,
        "bounce": sum(mail[t] for t in BOUNCE_TYPES) / sent if sent else None,
        "deferral": mail["deferred"] / sent if sent else None,
    }


def zonemta_node_list(*, page: int = 1, page_size: int = 50, now: dt.datetime | None = None) -> dict:
    """One page of ZoneMTA nodes: status and health now, last report, queue, mail over 1 h and 24 h,
    IP count. A constant number of queries whatever the page or fleet size."""
    now = now or timezone.now()
    nodes = zonemta_nodes()
    count = nodes.count()
    rows = list(nodes[(page - 1) * page_size : page * page_size])
    page_of = {"count": count, "page": page, "page_size": page_size, "results": rows}
    if not rows:
        return page_of
    cards = {card.node.pk: card for card in attention.fleet_health(now=now).cards}
    windows = {name: event_selectors.stats_by(time_range=TimeRange.parse(range=name, start=None, end=None, now=now),
                                              filters=EventFilters(), group_by="node")
               for name in ("1h", "24h")}  # fmt: skip
    for node in rows:
        card = cards.get(node.pk)
        node.health = {"status": card.health.status, "reason": card.health.reason} if card else None
        node.queue_size = card.snapshot.queue_size if card else None
        node.last_report = card.last_report if card else None
        node.mail_1h = _mail(windows["1h"].get(str(node.pk)))
        node.mail_24h = _mail(windows["24h"].get(str(node.pk)))
    return page_of


def _bucket_rate(series: dict[str, list[int]], parts: tuple[str, ...], i: int) -> float | None:
    sent = sum(series[t][i] for t in SENT_TYPES)
    return sum(series[t][i] for t in parts) / sent if sent else None


def node_performance(*, node: Node, time_range: TimeRange) -> dict:
    """The node's mail over a range: totals, rates (bounce = bounced + rejected of sent), delivery
    time (avg exact, p50/p95/p99 from the histogram) and, per bucket, outcomes, rates and percentiles."""
    scope = {"time_range": time_range, "filters": EventFilters(node=node.pk)}
    stats = event_selectors.stats(**scope)
    flow = event_selectors.throughput(**scope, group_by="type")
    timing = event_selectors.delivery_time_series(**scope)
    counts, n = flow["series"], len(flow["buckets"])
    mail = _mail(stats)
    series: dict[str, list] = {"sent": [sum(counts[t][i] for t in SENT_TYPES) for i in range(n)]}
    series |= {t: counts[t] for t in SENT_TYPES}
    series["bounce_rate"] = [_bucket_rate(counts, BOUNCE_TYPES, i) for i in range(n)]
    series["deferral_rate"] = [_bucket_rate(counts, ("deferred",), i) for i in range(n)]
    series |= {f"delivery_{key}_ms": timing["series"][key] for key in ("p50", "p95", "p99")}
    return {
        "node": node, "from": time_range.start, "to": time_range.end, "resolution": flow["resolution"],
        "buckets": flow["buckets"], "totals": mail, "rates": _rates(mail),
        "delivery_time_ms": stats["delivery_time_ms"], "series": series, "throughput": flow, "delivery_time": timing,
    }  # fmt: skip


def node_ips(*, node: Node, page: int = 1, page_size: int = 50, now: dt.datetime | None = None) -> dict:
    """One page of the node's sending IPs (by address) with pool, status, PTR, warmup and their sent
    1 h / 24 h / today and 24 h bounce rate from the IP rollups (all nodes' events from that IP)."""
    ips = node.ips.select_related("pool", "warmup_schedule").order_by("address")
    count = ips.count()
    rows = list(ips[(page - 1) * page_size : page * page_size])
    stats = ip_stats([ip.address for ip in rows], now=now) if rows else {}
    for ip in rows:
        ip.stats = stats.get(ip.address, {})
    return {"count": count, "page": page, "page_size": page_size, "results": rows}


def node_destinations(
    *, node: Node, time_range: TimeRange, sort: str = "-sent", page: int = 1, page_size: int = 50
) -> dict:
    """One page of the recipient domains the node sent to: outcomes, delivery rate, avg/p95 delivery
    time (``events.selectors.destinations``) and each domain's commonest deferral reasons."""
    filters = EventFilters(node=node.pk)
    data = event_selectors.destinations(time_range=time_range, filters=filters, sort=sort, page=page,
                                        page_size=page_size)  # fmt: skip
    domains = [row["domain"] for row in data["results"]]
    reasons = event_selectors.deferred_reasons_by_domain(time_range=time_range, filters=filters, domains=domains,
                                                         limit=TOP_DEFERRALS)  # fmt: skip
    for row in data["results"]:
        row["top_deferrals"] = reasons.get(row["domain"], [])
    return data
