"""What the rules are evaluated against: one bulk read per source family, never per rule × subject.

Each reader returns ``{source: [Sample, …]}`` for every subject it knows. A sample carries the
attributes scopes filter on (``node``, ``role``, ``ip``, ``pool``, ``domain``) and, for the
email sources, the ``volume`` (messages sent in the window) that ``min_volume`` is judged on.
Email figures come from the 5-minute rollups (node + IP cut, recipient-domain cut): one
query per (window, cut) however many rules share it; the same query also reads the window a
week earlier for ``email.volume_drop``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Sum

from apps.dnsbl.choices import Outcome
from apps.dnsbl.models import DnsblAutoPause, DnsblState
from apps.events.models import IngestBatch
from apps.events.models.rollups import HIST_FIELDS, table_name
from apps.events.selectors import SENT_TYPES, hist_percentile
from apps.ips.models import SendingIP
from apps.nodes.choices import NodeStatus
from apps.nodes.models import Node, NodeMetric

from .choices import GroupBy, Source

NODE_SOURCES = {
    Source.NODE_CPU, Source.NODE_MEMORY_AVAILABLE, Source.NODE_DISK_FREE, Source.NODE_LOAD,
    Source.NODE_QUEUE, Source.NODE_SERVICE_DOWN, Source.NODE_OFFLINE,
}
EMAIL_SOURCES = {
    Source.EMAIL_BOUNCE_RATE, Source.EMAIL_DEFERRAL_RATE, Source.EMAIL_DELIVERY_P95, Source.EMAIL_VOLUME_DROP,
}
# A node's latest report counts while it is at most this old (older: the node is offline).
METRIC_MAX_AGE = dt.timedelta(minutes=10)
WEEK = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Sample:
    subject: str
    value: float
    volume: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)


Samples = dict[str, list[Sample]]


def email_grain(source: str, group_by: str) -> str:
    return group_by or GroupBy.IP if source in EMAIL_SOURCES else ""


# --- node metrics and status: one query (latest report per node) ---

_NODE_SQL = f"""
SELECT n.hostname, n.role, n.status, m.cpu_percent, m.memory_percent, m.disks, m.load1, m.queue_size, m.services
FROM {Node._meta.db_table} n
LEFT JOIN LATERAL (
    SELECT * FROM {NodeMetric._meta.db_table} x
    WHERE x.node_id = n.id AND x.time >= %s ORDER BY x.time DESC LIMIT 1
) m ON true
WHERE n.approved AND n.status <> %s
"""


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _disk_free(disks: dict | None) -> float | None:
    free = [100 - d["used_percent"] for d in (disks or {}).values()
            if isinstance(d, dict) and isinstance(d.get("used_percent"), int | float)]
    return min(free) if free else None


def node_samples(now: dt.datetime) -> Samples:
    out: Samples = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(_NODE_SQL, [now - METRIC_MAX_AGE, NodeStatus.MAINTENANCE])
        rows = cursor.fetchall()
    for hostname, role, status, cpu, memory, disks, load1, queue, services in rows:
        disks, services = _json(disks), _json(services)
        attrs = {"node": hostname, "role": role}
        subject = f"node:{hostname}"
        out[Source.NODE_OFFLINE].append(Sample(subject, 1.0 if status == NodeStatus.OFFLINE else 0.0, attrs=attrs))
        values = {
            Source.NODE_CPU: cpu,
            Source.NODE_MEMORY_AVAILABLE: None if memory is None else 100 - memory,
            Source.NODE_DISK_FREE: _disk_free(disks),
            Source.NODE_LOAD: load1,
            Source.NODE_QUEUE: queue,
            Source.NODE_SERVICE_DOWN: None if services is None else sum(1 for up in services.values() if not up),
        }
        for source, value in values.items():
            if value is not None:
                out[source].append(Sample(subject, float(value), attrs=attrs))
    return out


# --- email statistics from the rollups: one query per (window, cut) ---

_SENT_SQL = " + ".join(f"n_{t}" for t in SENT_TYPES)


def _email_sql(table: str, keys: str) -> str:
    now_filter = "FILTER (WHERE bucket >= %(start)s)"
    hist = ", ".join(f"coalesce(sum({h}) {now_filter}, 0)" for h in HIST_FIELDS)
    return f"""
SELECT {keys},
  coalesce(sum({_SENT_SQL}) {now_filter}, 0),
  coalesce(sum(n_bounced) {now_filter}, 0),
  coalesce(sum(n_deferred) {now_filter}, 0),
  coalesce(sum({_SENT_SQL}) FILTER (WHERE bucket >= %(week_start)s AND bucket < %(week_end)s), 0),
  {hist}
FROM {table}
WHERE bucket >= %(start)s OR (bucket >= %(week_start)s AND bucket < %(week_end)s)
GROUP BY {keys}
"""


class _Totals:
    __slots__ = ("sent", "bounced", "deferred", "week", "hist")

    def __init__(self) -> None:
        self.sent = self.bounced = self.deferred = self.week = 0
        self.hist = [0] * len(HIST_FIELDS)

    def add(self, row: tuple) -> None:
        self.sent += row[0]
        self.bounced += row[1]
        self.deferred += row[2]
        self.week += row[3]
        self.hist = [a + b for a, b in zip(self.hist, row[4:], strict=True)]


def _email_rows(sql: str, now: dt.datetime, window: int) -> list[tuple]:
    span = dt.timedelta(seconds=window)
    params = {"start": now - span, "week_start": now - WEEK - span, "week_end": now - WEEK}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass(frozen=True, slots=True)
class Fleet:
    """Who is who, read once per round: node id -> (hostname, role), IP address -> pool name."""

    nodes: dict[int, tuple[str, str]]
    pools: dict[str, str]

    @classmethod
    def read(cls) -> Fleet:
        return cls(
            nodes={pk: (host, role) for pk, host, role in Node.objects.values_list("id", "hostname", "role")},
            pools=dict(SendingIP.objects.filter(pool__isnull=False).values_list("address", "pool__name")),
        )


def _email_groups(grain: str, now: dt.datetime, window: int, fleet: Fleet | None
                  ) -> dict[str, tuple[dict[str, str], _Totals]]:
    """{subject: (attrs, totals)} at one grain."""
    groups: dict[str, tuple[dict[str, str], _Totals]] = {}

    def add(subject: str, attrs: dict[str, str], row: tuple) -> None:
        groups.setdefault(subject, (attrs, _Totals()))[1].add(row)

    if grain == GroupBy.DOMAIN:
        sql = _email_sql(table_name("flow", "recipient", "5m"), "recipient_domain")
        for domain, *row in _email_rows(sql, now, window):
            add(f"domain:{domain}", {"domain": domain}, row)
        return groups
    rows = _email_rows(_email_sql(table_name("flow", "ip", "5m"), "node_id, host(sending_ip)"), now, window)
    fleet = fleet or Fleet.read()
    nodes, pools = fleet.nodes, fleet.pools
    for node_id, ip, *row in rows:
        hostname, role = nodes.get(node_id, (str(node_id), ""))
        if grain == GroupBy.FLEET:
            add("fleet", {}, row)
        elif grain == GroupBy.NODE:
            add(f"node:{hostname}", {"node": hostname, "role": role}, row)
        elif ip is None:
            continue
        elif grain == GroupBy.IP:
            add(f"ip:{ip}", {"ip": ip, "node": hostname, "role": role, "pool": pools.get(ip, "")}, row)
        elif ip in pools:
            add(f"pool:{pools[ip]}", {"pool": pools[ip]}, row)
    return groups


def email_samples(now: dt.datetime, grain: str, window: int, fleet: Fleet | None = None) -> Samples:
    out: Samples = defaultdict(list)
    for subject, (attrs, t) in _email_groups(grain, now, window, fleet).items():
        if t.sent:
            out[Source.EMAIL_BOUNCE_RATE].append(Sample(subject, 100 * t.bounced / t.sent, t.sent, attrs))
            out[Source.EMAIL_DEFERRAL_RATE].append(Sample(subject, 100 * t.deferred / t.sent, t.sent, attrs))
        p95 = hist_percentile(t.hist, 0.95)
        if p95 is not None:
            out[Source.EMAIL_DELIVERY_P95].append(Sample(subject, p95 / 1000, t.sent, attrs))
        if t.week:
            drop = max(0.0, 100 * (1 - t.sent / t.week))
            out[Source.EMAIL_VOLUME_DROP].append(Sample(subject, drop, t.week, attrs))
    return out


# --- DNSBL: current pause-worthy listings and auto-pauses, one query each ---


def dnsbl_samples() -> Samples:
    counts: dict[str, int] = defaultdict(int)
    listed = DnsblState.objects.filter(state=Outcome.LISTED, zone__may_pause=True, ip__isnull=False)
    for address in listed.values_list("ip__address", flat=True):
        counts[address] += 1
    for address in DnsblAutoPause.objects.filter(resumed_at__isnull=True).values_list("ip__address", flat=True):
        counts[address] = max(counts[address], 1)
    pools = dict(SendingIP.objects.filter(address__in=list(counts)).values_list("address", "pool__name"))
    return {
        Source.DNSBL_LISTED: [
            Sample(f"ip:{ip}", float(n), attrs={"ip": ip, "pool": pools.get(ip) or ""}) for ip, n in counts.items()
        ]
    }


# --- ingest: the inbox backlog, rejected events (Redis counter) ---


def ingest_samples(rejected_in_window: float | None) -> Samples:
    backlog = IngestBatch.objects.aggregate(n=Sum("events"))["n"] or 0
    out: Samples = {Source.INGEST_BACKLOG: [Sample("fleet", float(backlog))]}
    if rejected_in_window is not None:
        out[Source.INGEST_REJECTED] = [Sample("fleet", rejected_in_window)]
    return out


def channel_samples() -> Samples:
    from .models import Channel

    rows = Channel.objects.filter(enabled=True).values_list("name", "failing_since")
    return {
        Source.CHANNEL_FAILED: [
            Sample(f"channel:{name}", 1.0 if failing else 0.0, attrs={"channel": name}) for name, failing in rows
        ]
    }
