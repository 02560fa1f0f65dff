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
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Sum

from apps.core.request_metrics import api_latency
from apps.dnsbl.choices import Outcome
from apps.dnsbl.models import DnsblAutoPause, DnsblState
from apps.events.models import IngestBatch
from apps.events.models.rollups import HIST_FIELDS, table_name
from apps.events.selectors import SENT_TYPES, hist_percentile
from apps.ips.models import SendingIP
from apps.ips.selectors import warmup_holds
from apps.nodes.choices import NodeStatus
from apps.nodes.models import Node, NodeMetric
from apps.pools.models import IpPool

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


@dataclass(slots=True)  # not frozen: a round builds ~100,000 and a frozen __init__ costs 3× as much
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


# --- email statistics from the rollups: one query per cut for every window and grain ---

_SENT_SQL = " + ".join(f"n_{t}" for t in SENT_TYPES)
# GROUPING(node_id, ip, pool) of each grain's grouping set (a bit is set when the column is not grouped).
_IP_CUT_SETS = {GroupBy.FLEET: ("()", 7), GroupBy.NODE: ("(node_id)", 3),
                GroupBy.IP: ("(node_id, ip, pool)", 0), GroupBy.POOL: ("(pool)", 6)}


@dataclass(frozen=True, slots=True)
class EmailNeeds:
    """What the email rules of a round ask for: windows per grain, the windows needing p95, and
    which sources per (grain, window) (None: all four), so no sample is built that no rule reads."""

    grains: dict[str, frozenset[int]]
    p95_windows: frozenset[int] = frozenset()
    sources: dict[tuple[str, int], frozenset[str]] | None = None

    def windows(self) -> list[int]:
        return sorted(set().union(*self.grains.values())) if self.grains else []

    def wanted(self, grain: str, window: int) -> frozenset[str]:
        return frozenset(EMAIL_SOURCES) if self.sources is None else self.sources.get((grain, window), frozenset())


def _columns(windows: list[int], p95_windows: frozenset[int]) -> list[tuple[bool, str]]:
    """The aggregate columns, window after window: sent, bounced, deferred, sent a week earlier
    (and the delivery-time histogram when the window needs a p95); each flagged week or not."""
    columns = []
    for i, window in enumerate(windows):
        now_f = f"FILTER (WHERE bucket >= %(s{i})s)"
        week_f = f"FILTER (WHERE bucket >= %(ws{i})s AND bucket < %(we{i})s)"
        columns += [(False, f"coalesce(sum({_SENT_SQL}) {now_f}, 0)"), (False, f"coalesce(sum(n_bounced) {now_f}, 0)"),
                    (False, f"coalesce(sum(n_deferred) {now_f}, 0)"), (True, f"coalesce(sum({_SENT_SQL}) {week_f}, 0)")]
        if window in p95_windows:
            columns += [(False, f"coalesce(sum({h}) {now_f}, 0)") for h in HIST_FIELDS]
    return columns


def _params(now: dt.datetime, windows: list[int]) -> dict[str, dt.datetime]:
    params = {}
    for i, window in enumerate(windows):
        span = dt.timedelta(seconds=window)
        params |= {f"s{i}": now - span, f"ws{i}": now - WEEK - span, f"we{i}": now - WEEK}
    params["first"] = now - dt.timedelta(seconds=max(windows))
    params["week_first"] = now - WEEK - dt.timedelta(seconds=max(windows))
    params["week_last"] = now - WEEK
    return params


def _per_key_sql(table: str, keys: str, columns: list[tuple[bool, str]]) -> str:
    """The window columns per ``keys`` as ``c0, c1, …``: the recent rows and the rows a week ago
    aggregated apart (a week-ago row only feeds the few "sent a week earlier" columns), so at most
    two rows per key, to be summed by the caller."""
    # float8: the caller's sums over these rows run on float accumulators (exact below 2**53), not the
    # numeric ones sum(bigint) would use, several times slower over ~80 columns.
    recent = ", ".join(f"({'0' if week else aggregate})::float8 AS c{i}" for i, (week, aggregate) in enumerate(columns))
    past = ", ".join(f"({aggregate if week else '0'})::float8 AS c{i}" for i, (week, aggregate) in enumerate(columns))
    return f"""
  SELECT {keys}, {recent} FROM {table} WHERE bucket >= %(first)s GROUP BY {keys}
  UNION ALL
  SELECT {keys}, {past} FROM {table} WHERE bucket >= %(week_first)s AND bucket < %(week_last)s GROUP BY {keys}"""


def _sums(columns: list) -> str:
    return ", ".join(f"sum(c{i})::bigint" for i in range(len(columns)))


def _ip_cut_sql(grains: list[str], columns: list[tuple[bool, str]]) -> str:
    """Two steps: the window figures per (node, IP) from the 5-minute rows, then the grouping sets
    over those few thousand rows. (Grouping the ~120,000 raw rows of the windows per set, with
    every column filtered per window, took twice as long.)"""
    # GROUPING() needs every column it names in some set: the IP set is always there.
    sets = ", ".join(_IP_CUT_SETS[g][0] for g in {*grains, GroupBy.IP})
    per_ip = _per_key_sql(table_name("flow", "ip", "5m"), "node_id, sending_ip", columns)
    return f"""
WITH per_ip AS ({per_ip})
SELECT GROUPING(node_id, ip, pool), node_id, ip, pool, {_sums(columns)}
FROM (SELECT r.*, host(r.sending_ip) AS ip, p.name AS pool FROM per_ip r
      LEFT JOIN {SendingIP._meta.db_table} s ON s.address = r.sending_ip
      LEFT JOIN {IpPool._meta.db_table} p ON p.id = s.pool_id) r
GROUP BY GROUPING SETS ({sets})
"""


def _domain_cut_sql(columns: list[tuple[bool, str]]) -> str:
    per_domain = _per_key_sql(table_name("flow", "recipient", "5m"), "recipient_domain", columns)
    return f"""
SELECT recipient_domain, {_sums(columns)} FROM ({per_domain}) r
GROUP BY recipient_domain
"""


# The per-IP step sorts or hashes ~120,000 rows (5,000 IPs × 24 buckets) of ~80 aggregates: with the
# default 4 MB it spills to disk; this much keeps it in memory (one such query every 30 s).
EMAIL_WORK_MEM = "32MB"


def _fetch(sql: str, params: dict) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{EMAIL_WORK_MEM}'")
        cursor.execute(sql, params)
        return cursor.fetchall()


def _append(out: Samples, subject: str, attrs: dict[str, str], values: tuple, wanted: frozenset[str]) -> None:
    sent, bounced, deferred, week = values[:4]
    if sent:
        if Source.EMAIL_BOUNCE_RATE in wanted:
            out[Source.EMAIL_BOUNCE_RATE].append(Sample(subject, 100 * bounced / sent, sent, attrs))
        if Source.EMAIL_DEFERRAL_RATE in wanted:
            out[Source.EMAIL_DEFERRAL_RATE].append(Sample(subject, 100 * deferred / sent, sent, attrs))
        if Source.EMAIL_DELIVERY_P95 in wanted and len(values) > 4:
            p95 = hist_percentile(list(values[4:]), 0.95)
            if p95 is not None:
                out[Source.EMAIL_DELIVERY_P95].append(Sample(subject, p95 / 1000, sent, attrs))
    if week and Source.EMAIL_VOLUME_DROP in wanted:
        out[Source.EMAIL_VOLUME_DROP].append(Sample(subject, max(0.0, 100 * (1 - sent / week)), week, attrs))


def _split(row: tuple, windows: list[int], p95_windows: frozenset[int]) -> dict[int, tuple]:
    """The aggregate columns of a row, per window."""
    parts, at = {}, 0
    for window in windows:
        width = 4 + (len(HIST_FIELDS) if window in p95_windows else 0)
        parts[window] = row[at:at + width]
        at += width
    return parts


def _ip_subject(grain: str, node: tuple[str, str] | None, ip: str | None, pool: str | None):
    hostname, role = node or ("", "")
    if grain == GroupBy.FLEET:
        return "fleet", {}
    if grain == GroupBy.NODE:
        return f"node:{hostname}", {"node": hostname, "role": role}
    if grain == GroupBy.IP:
        return (f"ip:{ip}", {"ip": ip, "node": hostname, "role": role, "pool": pool or ""}) if ip else (None, None)
    return (f"pool:{pool}", {"pool": pool}) if pool else (None, None)


def email_samples(now: dt.datetime, needs: EmailNeeds) -> dict[tuple[str, int], Samples]:
    """{(grain, window): samples} for every grain and window ``needs`` names: one query per cut."""
    windows = needs.windows()
    out: dict[tuple[str, int], Samples] = {(g, w): defaultdict(list) for g, ws in needs.grains.items() for w in ws}
    if not windows:
        return out
    columns = _columns(windows, needs.p95_windows)
    params = _params(now, windows)
    if GroupBy.DOMAIN in needs.grains:
        for domain, *row in _fetch(_domain_cut_sql(columns), params):
            for window, values in _split(tuple(row), windows, needs.p95_windows).items():
                if window in needs.grains[GroupBy.DOMAIN]:
                    _append(out[(GroupBy.DOMAIN, window)], f"domain:{domain}", {"domain": domain}, values,
                            needs.wanted(GroupBy.DOMAIN, window))
    grains = [g for g in _IP_CUT_SETS if g in needs.grains]
    if not grains:
        return out
    by_set = {_IP_CUT_SETS[g][1]: g for g in grains}
    wanted = {(g, w): needs.wanted(g, w) for g in grains for w in needs.grains[g]}
    nodes = {pk: (host, role) for pk, host, role in Node.objects.values_list("id", "hostname", "role")}
    for grouping, node_id, ip, pool, *row in _fetch(_ip_cut_sql(grains, columns), params):
        grain = by_set.get(grouping)
        if grain is None:  # the IP set, when no rule asked for it
            continue
        subject, attrs = _ip_subject(grain, nodes.get(node_id, (str(node_id), "")), ip, pool)
        if subject is None:
            continue
        for window, values in _split(tuple(row), windows, needs.p95_windows).items():
            if window in needs.grains[grain]:
                _append(out[(grain, window)], subject, attrs, values, wanted[(grain, window)])
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


# --- IP warmup holds: every IP in warmup, 1 while the daily step holds it on its day (one query) ---


def warmup_samples() -> Samples:
    return {
        Source.IP_WARMUP_HELD: [
            Sample(f"ip:{ip['address']}", 1.0 if ip["held"] else 0.0,
                   attrs={"ip": ip["address"], "node": ip["node"], "role": ip["role"], "pool": ip["pool"]})
            for ip in warmup_holds()
        ]
    }


# --- the portal's own API latency: p95 of every process's /api/ requests over the window (Redis) ---


def portal_samples(now: dt.datetime, windows: Iterable[int]) -> dict[int, Samples]:
    """{window: samples} for every window: one Redis round trip."""
    return {
        window: {Source.PORTAL_API_P95: [Sample("fleet", latency.p95, latency.requests)]}
        if latency.p95 is not None else {}
        for window, latency in api_latency(now, windows).items()
    }


def channel_samples() -> Samples:
    from .models import Channel

    rows = Channel.objects.filter(enabled=True).values_list("name", "failing_since")
    return {
        Source.CHANNEL_FAILED: [
            Sample(f"channel:{name}", 1.0 if failing else 0.0, attrs={"channel": name}) for name, failing in rows
        ]
    }
