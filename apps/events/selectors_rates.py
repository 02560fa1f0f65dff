"""Outcome rates of the last few minutes per node, sending IP and recipient domain.

What the health rules (``apps/nodes/health.py``) judge MTAs, IPs and domains by. Counts
come from the 5-minute rollups (``ip`` and ``recipient`` cuts, from the bucket holding
``now - window`` up to now); the commonest reason per node and recipient domain ("42 %
of gmail.com deferred 4.7.28") needs node and recipient domain together, which no rollup
holds, so it reads the window's raw deferred and bounced events (a few minutes of them).
A constant number of queries, whatever the fleet's size.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection

from apps.nodes.health import Cause, Rates

from .models.rollups import ORIGIN, STEPS, events_table, table_name
from .selectors import stats
from .time_range import EventFilters, TimeRange

CAUSE_TYPES = ("deferred", "bounced")


@dataclass(frozen=True)
class RecentRates:
    start: dt.datetime
    end: dt.datetime
    by_node: dict[int, Rates] = field(default_factory=dict)
    by_ip: dict[str, Rates] = field(default_factory=dict)
    by_domain: dict[str, Rates] = field(default_factory=dict)
    by_ip_node: dict[str, int] = field(default_factory=dict)  # the node an IP sent from most


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def window_start(now: dt.datetime, window: dt.timedelta) -> dt.datetime:
    """Start of the 5-minute bucket holding ``now - window``: what the rollups can answer."""
    step = STEPS["5m"]
    return ORIGIN + ((now - window - ORIGIN) // step) * step


_COUNTS = "sum(n_delivered), sum(n_deferred), sum(n_bounced), sum(n_rejected)"


def _rates(delivered: int, deferred: int, bounced: int, rejected: int, causes=()) -> Rates:
    sent = delivered + deferred + bounced + rejected
    return Rates(sent=sent, delivered=delivered, deferred=deferred, bounced=bounced, causes=tuple(causes))


def recent_rates(*, now: dt.datetime, window: dt.timedelta, min_sent: int = 1) -> RecentRates:
    """Rates per node and IP (all of them) and per recipient domain (those with ``min_sent`` up)."""
    start = window_start(now, window)
    span = [start, now]
    node_counts, ip_counts, ip_node = _ip_cut_counts(start, now)
    domain_rows = _fetch(
        f"SELECT recipient_domain, {_COUNTS} FROM {table_name('flow', 'recipient', '5m')} "
        "WHERE bucket >= %s AND bucket <= %s GROUP BY 1 "
        "HAVING sum(n_delivered + n_deferred + n_bounced + n_rejected) >= %s",
        [*span, min_sent],
    )
    node_causes, domain_causes = _node_and_domain_causes(start, now)
    ip_causes = _ip_causes(start, now)
    return RecentRates(
        start=start,
        end=now,
        by_node={n: _rates(*c, node_causes.get(n, ())) for n, c in node_counts.items()},
        by_ip={ip: _rates(*c, ip_causes.get(ip, ())) for ip, c in ip_counts.items()},
        by_domain={d: _rates(*[int(x) for x in c], domain_causes.get(d, ())) for d, *c in domain_rows},
        by_ip_node={ip: node for ip, (node, _n) in ip_node.items()},
    )


def _ip_cut_counts(start: dt.datetime, end: dt.datetime) -> tuple[dict, dict, dict]:
    rows = _fetch(
        f"SELECT node_id, host(sending_ip), {_COUNTS} FROM {table_name('flow', 'ip', '5m')} "
        "WHERE bucket >= %s AND bucket <= %s GROUP BY 1, 2",
        [start, end],
    )
    node_counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    ip_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    ip_node: dict[str, tuple[int, int]] = {}
    for node_id, ip, *values in rows:
        counts = [int(c) for c in values]
        node_counts[node_id] = [a + b for a, b in zip(node_counts[node_id], counts, strict=True)]
        if ip:
            ip_counts[ip] = [a + b for a, b in zip(ip_counts[ip], counts, strict=True)]
            if sum(counts) > ip_node.get(ip, (0, -1))[1]:
                ip_node[ip] = (node_id, sum(counts))
    return node_counts, ip_counts, ip_node


def rates_by_node(*, start: dt.datetime, end: dt.datetime) -> dict[int, Rates]:
    """Outcomes per node from the 5-minute rollups (e.g. the overview cards' last hour)."""
    node_counts, _ips, _ip_node = _ip_cut_counts(start, end)
    return {node: _rates(*counts) for node, counts in node_counts.items()}


def _node_and_domain_causes(start: dt.datetime, end: dt.datetime) -> tuple[dict, dict]:
    """Per node: the (recipient domain, code) behind most deferrals and most bounces, with the
    share of that domain's outcomes on that node; per domain: its commonest code per type."""
    rows = _fetch(
        "WITH e AS (SELECT node_id, recipient_domain AS d, type, "
        "coalesce(nullif(enhanced_status, ''), nullif(status_code, 0)::text, '') AS code "
        f"FROM {events_table()} WHERE time >= %s AND time <= %s "
        "AND type IN ('delivered', 'deferred', 'bounced', 'rejected')), "
        "sent AS (SELECT node_id, d, count(*) AS n FROM e GROUP BY 1, 2) "
        "SELECT e.node_id, e.d, e.type, e.code, count(*), min(sent.n) FROM e JOIN sent USING (node_id, d) "
        "WHERE e.type IN ('deferred', 'bounced') GROUP BY 1, 2, 3, 4",
        [start, end],
    )
    best_node: dict[tuple[int, str], Cause] = {}
    domain_codes: dict[tuple[str, str, str], int] = defaultdict(int)
    for node_id, domain, type, code, count, of in rows:
        cause = Cause(type=type, code=code, count=int(count), of=int(of), domain=domain)
        current = best_node.get((node_id, type))
        if current is None or (cause.count, -len(domain)) > (current.count, -len(current.domain or "")):
            best_node[(node_id, type)] = cause
        domain_codes[(domain, type, code)] += int(count)
    best_domain: dict[tuple[str, str], Cause] = {}
    for (domain, type, code), count in domain_codes.items():
        current = best_domain.get((domain, type))
        if current is None or (count, code) > (current.count, current.code):
            best_domain[(domain, type)] = Cause(type=type, code=code, count=count, of=0)
    return _grouped(best_node), _grouped(best_domain)


def _ip_causes(start: dt.datetime, end: dt.datetime) -> dict[str, tuple[Cause, ...]]:
    rows = _fetch(
        "SELECT host(sending_ip), type, coalesce(nullif(enhanced_status, ''), nullif(status_code, 0)::text, ''), "
        f"sum(n) FROM {table_name('reason', 'ip', '5m')} WHERE bucket >= %s AND bucket <= %s "
        "AND type IN ('deferred', 'bounced') AND sending_ip IS NOT NULL GROUP BY 1, 2, 3",
        [start, end],
    )
    best: dict[tuple[str, str], Cause] = {}
    for ip, type, code, count in rows:
        current = best.get((ip, type))
        if current is None or (int(count), code) > (current.count, current.code):
            best[(ip, type)] = Cause(type=type, code=code, count=int(count), of=0)
    return _grouped(best)


def _grouped(best: dict[tuple, Cause]) -> dict:
    out: dict = defaultdict(list)
    for (key, _type), cause in best.items():
        out[key].append(cause)
    return {key: tuple(sorted(causes, key=lambda c: -c.count)) for key, causes in out.items()}


WEEK = dt.timedelta(days=7)


def flow_summary(*, now: dt.datetime, span: dt.timedelta = dt.timedelta(hours=1)) -> dict:
    """The last ``span`` of mail flow and the same span a week earlier (``stats`` of each)."""
    filters = EventFilters()
    current = stats(time_range=TimeRange(start=now - span, end=now), filters=filters)
    week_ago = stats(time_range=TimeRange(start=now - span - WEEK, end=now - WEEK), filters=filters)
    return {"now": current, "week_ago": week_ago}
