"""The fleet's health now: every node, MTA, sending IP and busy recipient domain judged by
``health.py``, and the list of what needs attention (what the alerts module builds on).

    attention_items(now) -> list[AttentionItem]   worst first: kind, subject, severity, reason, url
    fleet_health(now)    -> FleetHealth           cards, IPs, domains and the items, for pages

A constant handful of queries whatever the fleet's size (nodes, their latest reports,
the window's rates); nothing here writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from apps.events import selectors_rates
from apps.ips.models import SendingIP

from . import selectors
from .choices import NodeRole
from .health import (
    RANK,
    Health,
    NodeSnapshot,
    Rates,
    Thresholds,
    combine,
    domain_health,
    ip_health,
    node_health,
    number,
    optional_percent,
    queue_growing,
    rate_health,
    worst_disk,
)
from .models import HealthThresholds, Node

OUTBOUND_ROLES = (NodeRole.ZONEMTA, NodeRole.POSTFIX, NodeRole.HARAKA)
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class AttentionItem:
    kind: str  # "node", "mta", "ip" or "domain"
    subject: str  # hostname, address or domain
    severity: str  # "warning" or "critical" (health.py)
    reason: str  # in words
    url: str | None = None


@dataclass(frozen=True)
class NodeCard:
    node: Node
    snapshot: NodeSnapshot
    health: Health
    last_report: dt.datetime | None
    sent_hour: int
    bounce_rate_hour: float | None
    is_mta: bool
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def url(self) -> str:
        return node_url(self.node.hostname)

    @property
    def figures(self) -> list[tuple[str, str]]:
        """The card's figures as (label, words), "—" where the agent reported none."""
        s = self.snapshot
        disk = worst_disk(s.disks)
        return [
            ("CPU", "—" if s.cpu_percent is None else f"{s.cpu_percent:.0f} %"),
            ("Memory", "—" if s.memory_percent is None else f"{s.memory_percent:.0f} %"),
            ("Disk", "—" if disk is None else f"{disk[1]:.0f} % {disk[0]}"),
            ("Queue", "—" if s.queue_size is None else number(s.queue_size) + (" ↑" if self.queue_growing else "")),
            ("Sent/h", number(self.sent_hour)),
            ("Bounce", optional_percent(self.bounce_rate_hour)),
        ]

    @property
    def queue_growing(self) -> bool:
        return queue_growing(self.snapshot.queue_size, self.snapshot.queue_before, self.thresholds)


@dataclass(frozen=True)
class IpRow:
    address: str
    node: str | None
    pool: str | None
    status: str | None  # the IP's administrative status (active, paused, …); None if not in the IP table
    rates: Rates
    health: Health

    @property
    def bounce_percent(self) -> str:
        return optional_percent(self.rates.bounce_rate)

    @property
    def deferral_percent(self) -> str:
        return optional_percent(self.rates.deferral_rate)


@dataclass(frozen=True)
class DomainRow:
    domain: str
    rates: Rates
    health: Health


@dataclass(frozen=True)
class FleetHealth:
    now: dt.datetime
    thresholds: Thresholds
    cards: list[NodeCard]
    ips: list[IpRow]
    domains: list[DomainRow]

    @property
    def attention(self) -> list[AttentionItem]:
        items = [AttentionItem("mta" if c.is_mta else "node", c.node.hostname, c.health.status, c.health.reason,
                               node_url(c.node.hostname))
                 for c in self.cards if c.health.needs_attention]  # fmt: skip
        items += [AttentionItem("ip", r.address, r.health.status, _ip_reason(r), None)
                  for r in self.ips if r.health.needs_attention]  # fmt: skip
        items += [AttentionItem("domain", r.domain, r.health.status, r.health.reason, None)
                  for r in self.domains if r.health.needs_attention]  # fmt: skip
        order = {"critical": 0, "warning": 1}
        kinds = {"mta": 0, "node": 1, "ip": 2, "domain": 3}
        return sorted(items, key=lambda i: (order[i.severity], kinds[i.kind], i.subject))

    @property
    def counts(self) -> dict[str, int]:
        """Nodes per health status (every status present, zeros included)."""
        counts = dict.fromkeys(RANK, 0)
        for card in self.cards:
            counts[card.health.status] += 1
        return counts

    @property
    def mta_cards(self) -> list[NodeCard]:
        return [c for c in self.cards if c.is_mta]


def _ip_reason(row: IpRow) -> str:
    where = f" (on {row.node})" if row.node else ""
    return row.health.reason + where


def node_url(hostname: str) -> str:
    """The node's own page (``/nodes/<hostname>/``, issue 9)."""
    return f"/nodes/{quote(hostname)}/"


def thresholds() -> Thresholds:
    """The settings' thresholds, with what an admin set in the admin (HealthThresholds) on top."""
    base = Thresholds.from_settings(settings)
    row = HealthThresholds.objects.first()
    return dataclasses.replace(base, **row.overrides()) if row else base


def _snapshot(node: Node, metric: dict | None, now: dt.datetime) -> NodeSnapshot:
    metric = metric or {}
    silent_after = dt.timedelta(seconds=settings.MAILMON_NODE_SILENT_AFTER)
    return NodeSnapshot(
        status=node.expected_status(silent_after=silent_after, now=now),  # silent is offline, sweep or not
        silent_for=node.silent_for(now),
        cpu_percent=metric.get("cpu_percent"),
        memory_percent=metric.get("memory_percent"),
        disks=metric.get("disks") or {},
        services=metric.get("services") or {},
        queue_size=metric.get("queue_size"),
        queue_before=metric.get("queue_before"),
    )


def fleet_health(*, now: dt.datetime | None = None) -> FleetHealth:
    now = now or timezone.now()
    t = thresholds()
    metrics = selectors.latest_metrics(now=now, window=t.window)
    rates = selectors_rates.recent_rates(now=now, window=t.window, min_sent=t.min_sent)
    hour = selectors_rates.rates_by_node(start=now - HOUR, end=now)
    nodes = list(Node.objects.fleet())
    cards = []
    for node in nodes:
        snapshot = _snapshot(node, metrics.get(node.pk), now)
        node_rates = rates.by_node.get(node.pk, Rates())
        health = combine(node_health(snapshot, t), rate_health(node_rates, t))
        hourly = hour.get(node.pk, Rates())
        is_mta = node.role in OUTBOUND_ROLES or node_rates.sent > 0 or snapshot.queue_size is not None
        cards.append(NodeCard(node, snapshot, health, (metrics.get(node.pk) or {}).get("time"), hourly.sent,
                              hourly.bounce_rate, is_mta, t))  # fmt: skip
    hostnames = {n.pk: n.hostname for n in nodes}
    return FleetHealth(now, t, cards, _ip_rows(rates, hostnames, t), _domain_rows(rates, t))


def _ip_rows(rates: selectors_rates.RecentRates, hostnames: dict[int, str], t: Thresholds) -> list[IpRow]:
    known = {
        str(ip.address): ip
        for ip in SendingIP.objects.filter(address__in=list(rates.by_ip)).select_related("node", "pool")
    }
    rows = []
    for address, ip_rates in rates.by_ip.items():
        ip = known.get(address)
        node = ip.node.hostname if ip and ip.node else hostnames.get(rates.by_ip_node.get(address, -1))
        rows.append(IpRow(address, node, ip.pool.name if ip and ip.pool else None, ip.status if ip else None,
                          ip_rates, ip_health(ip_rates, t)))  # fmt: skip
    return rows


def _domain_rows(rates: selectors_rates.RecentRates, t: Thresholds) -> list[DomainRow]:
    return [DomainRow(d, r, domain_health(d, r, t)) for d, r in rates.by_domain.items()]


def ranked_ips(ips: list[IpRow]) -> list[IpRow]:
    """Worst first: health, then bounce rate, then deferral rate, then volume."""
    return sorted(ips, key=lambda r: (-r.health.rank, -(r.rates.bounce_rate or 0), -(r.rates.deferral_rate or 0),
                                      -r.rates.sent, r.address))  # fmt: skip


def attention_items(now: dt.datetime | None = None) -> list[AttentionItem]:
    """What is not healthy now, worst first (critical before warning; MTAs, nodes, IPs, domains)."""
    return fleet_health(now=now).attention
