"""Reads about the fleet for pages, API and live updates."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count

from .choices import NodeRole, NodeStatus
from .models import Node, NodeMetric

if TYPE_CHECKING:
    from apps.events.time_range import TimeRange

QUEUE_NOW_WINDOW = dt.timedelta(minutes=10)


def fleet_summary() -> dict:
    """Counts by status and role, as sent to the live overview."""
    fleet = Node.objects.fleet().order_by()
    by_status = dict(fleet.values_list("status").annotate(n=Count("id")))
    by_role = dict(fleet.values_list("role").annotate(n=Count("id")))
    return {
        "total": sum(by_status.values()),
        "by_status": {status: by_status.get(status, 0) for status in NodeStatus.values},
        "by_role": by_role,
        "pending_approval": Node.objects.pending_approval().count(),
    }


def node_list(*, role: str | None = None, status: str | None = None, search: str | None = None):
    nodes = Node.objects.fleet()
    if role:
        nodes = nodes.filter(role=role)
    if status:
        nodes = nodes.filter(status=status)
    if search:
        nodes = nodes.filter(hostname__icontains=search)
    return nodes


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def queue(*, time_range: TimeRange, node: int | None = None) -> dict:
    """Mail queue sizes from the agents' reports (``NodeMetric.queue_size``), on the range's bucket grid.

    A bucket's value is the node's last report in it (a level, not a sum); ``per_node_now``
    is each node's latest report in the last 10 minutes of the range. The email queue
    page and ``/api/v1/email/queue`` show it next to the deferral reasons.
    """
    step = time_range.step
    span = time_range.snapped()
    buckets = time_range.buckets()
    index = {bucket: i for i, bucket in enumerate(buckets)}
    nodes_table, metrics_table = Node._meta.db_table, NodeMetric._meta.db_table
    nodes = f"SELECT id, hostname FROM {nodes_table}" + (" WHERE id = %s" if node is not None else "")
    node_params = [node] if node is not None else []
    rows = _fetch(
        f"SELECT b.bucket, n.hostname, m.queue_size FROM generate_series(%s::timestamptz, %s::timestamptz, %s) "
        f"AS b(bucket) CROSS JOIN ({nodes}) AS n CROSS JOIN LATERAL (SELECT queue_size FROM {metrics_table} "
        "WHERE node_id = n.id AND time >= b.bucket AND time < b.bucket + %s AND queue_size IS NOT NULL "
        "ORDER BY time DESC LIMIT 1) AS m",
        [span.start, span.end - step, step, *node_params, step],
    )
    per_node: dict[str, list[int | None]] = {}
    for bucket, hostname, size in rows:
        per_node.setdefault(hostname, [None] * len(buckets))[index[bucket]] = size
    now_rows = _fetch(
        f"SELECT n.hostname, m.queue_size, m.time FROM ({nodes}) AS n CROSS JOIN LATERAL (SELECT queue_size, time "
        f"FROM {metrics_table} WHERE node_id = n.id AND time >= %s AND time <= %s AND queue_size IS NOT NULL "
        "ORDER BY time DESC LIMIT 1) AS m ORDER BY n.hostname",
        [*node_params, max(time_range.start, time_range.end - QUEUE_NOW_WINDOW), time_range.end],
    )
    per_node_now = [{"node": h, "queue_size": size, "time": t.isoformat()} for h, size, t in now_rows]
    return {
        "total_now": sum(r["queue_size"] for r in per_node_now) if per_node_now else None,
        "per_node_now": per_node_now,
        "series": {"buckets": [b.isoformat() for b in buckets], "per_node": dict(sorted(per_node.items()))},
        "resolution": time_range.resolution,
    }


LATEST_METRIC_MAX_AGE = dt.timedelta(days=1)


def latest_metrics(*, now: dt.datetime, window: dt.timedelta) -> dict[int, dict]:
    """Per fleet node: its latest report of the last day and its queue one ``window`` ago, in one query."""
    nodes_table, metrics_table = Node._meta.db_table, NodeMetric._meta.db_table
    rows = _fetch(
        "SELECT n.id, m.time, m.cpu_percent, m.memory_percent, m.disks, m.services, m.queue_size, b.queue_size "
        f"FROM {nodes_table} AS n LEFT JOIN LATERAL (SELECT time, cpu_percent, memory_percent, disks, services, "
        f"queue_size FROM {metrics_table} WHERE node_id = n.id AND time > %s AND time <= %s "
        "ORDER BY time DESC LIMIT 1) AS m ON true "
        f"LEFT JOIN LATERAL (SELECT queue_size FROM {metrics_table} WHERE node_id = n.id AND time > %s "
        "AND time <= %s AND queue_size IS NOT NULL ORDER BY time DESC LIMIT 1) AS b ON true WHERE n.approved",
        [now - LATEST_METRIC_MAX_AGE, now, now - window - QUEUE_NOW_WINDOW, now - window],
    )
    keys = ("time", "cpu_percent", "memory_percent", "disks", "services", "queue_size", "queue_before")
    latest = {}
    for node_id, *values in rows:
        metric = dict(zip(keys, values, strict=True))
        for name in ("disks", "services"):  # raw SQL hands JSON columns over as text
            if isinstance(metric[name], str):
                metric[name] = json.loads(metric[name])
        latest[node_id] = metric
    return latest
# --- One node: its page and /api/v1/nodes/{hostname}[/metrics] ---

# Metric resolutions, coarsest last: the first whose span limit holds the range is used, so a
# chart carries at most ~430 points whatever the range (30 days of 15 s samples: 172,800 rows
# per node, folded in SQL). Names and steps as the email rollups write them ("5m", "1h").
METRIC_RESOLUTIONS: tuple[tuple[str, dt.timedelta, dt.timedelta], ...] = (
    # name, bucket width, longest span served at this width
    ("1m", dt.timedelta(minutes=1), dt.timedelta(hours=6)),
    ("5m", dt.timedelta(minutes=5), dt.timedelta(hours=36)),
    ("30m", dt.timedelta(minutes=30), dt.timedelta(days=8)),
    ("2h", dt.timedelta(hours=2), dt.timedelta(days=31)),
    ("1d", dt.timedelta(days=1), dt.timedelta.max),
)
# Bucket origin: a UTC midnight (a Monday), as the email rollups use, so daily buckets are UTC days.
METRIC_ORIGIN = dt.datetime(2000, 1, 3, tzinfo=dt.UTC)
# Averaged per bucket; the queue is a level whose peaks matter, so its bucket holds the maximum.
_AVERAGED = ("cpu_percent", "memory_percent", "swap_percent", "load1", "load5", "load15")
METRIC_SERIES = (*_AVERAGED, "cpu_percent_max", "queue_size", "net_rx_bps", "net_tx_bps", "samples")
MTA_ROLES = frozenset({NodeRole.HARAKA, NodeRole.ZONEMTA, NodeRole.POSTFIX})


def metric_resolution(time_range: TimeRange) -> tuple[str, dt.timedelta]:
    """The bucket width for node metrics over ``time_range``: finer for short ranges."""
    span = time_range.end - time_range.start
    for name, step, longest in METRIC_RESOLUTIONS:
        if span <= longest:
            return name, step
    raise AssertionError("the last resolution serves any span")  # pragma: no cover


def _metric_grid(time_range: TimeRange) -> tuple[str, dt.timedelta, list[dt.datetime]]:
    """Resolution, step and the buckets covering the range (widened to whole buckets)."""
    name, step = metric_resolution(time_range)
    first = METRIC_ORIGIN + ((time_range.start - METRIC_ORIGIN) // step) * step
    last = METRIC_ORIGIN + -((METRIC_ORIGIN - time_range.end) // step) * step
    return name, step, [first + i * step for i in range((last - first) // step)]


def _disk_used_sql() -> str:
    # An agent may send anything under a mount: only JSON numbers count.
    return "CASE WHEN jsonb_typeof(d.value -> 'used_percent') = 'number' THEN (d.value ->> 'used_percent')::float8 END"


def node_metrics(*, node: Node, time_range: TimeRange) -> dict:
    """The node's reports folded into buckets of a resolution chosen by the range (date_bin in SQL).

    Each bucket holds the mean of its samples (``cpu_percent_max`` and ``queue_size``: the
    maximum); ``samples`` counts the reports per bucket; network rates are bytes/s from the
    deltas of the agents' byte counters (a counter going back, as after a reboot, is skipped);
    each disk has its mean ``used_percent``, and each service the share of samples that saw it
    up (1.0 up all along, 0.0 down all along).
    Buckets without samples are null.
    """
    resolution, step, buckets = _metric_grid(time_range)
    index = {bucket: i for i, bucket in enumerate(buckets)}
    table = NodeMetric._meta.db_table
    bounds = [node.pk, buckets[0], buckets[-1] + step]
    bin_sql = "date_bin(%s::interval, time, %s::timestamptz)"
    averages = ", ".join(f"avg({column})" for column in _AVERAGED)
    rate = "sum({d}) FILTER (WHERE {d} >= 0 AND dt > 0) / NULLIF(sum(dt) FILTER (WHERE {d} >= 0 AND dt > 0), 0)"
    rows = _fetch(
        f"SELECT {bin_sql} AS bucket, {averages}, max(cpu_percent), max(queue_size), "
        f"{rate.format(d='drx')}, {rate.format(d='dtx')}, count(*) FROM (SELECT time, "
        f"{', '.join(_AVERAGED)}, queue_size, net_rx_bytes, net_tx_bytes, "
        "net_rx_bytes - lag(net_rx_bytes) OVER w AS drx, net_tx_bytes - lag(net_tx_bytes) OVER w AS dtx, "
        "extract(epoch FROM time - lag(time) OVER w) AS dt "
        f"FROM {table} WHERE node_id = %s AND time >= %s AND time < %s WINDOW w AS (ORDER BY time)) AS m GROUP BY 1",
        [step, METRIC_ORIGIN, *bounds],
    )
    series: dict[str, list] = {name: [None] * len(buckets) for name in METRIC_SERIES}
    for bucket, *values in rows:
        for name, value in zip(METRIC_SERIES, values, strict=True):
            series[name][index[bucket]] = None if value is None else float(value)
    samples = [int(n or 0) for n in series.pop("samples")]
    return {
        "hostname": node.hostname,
        "resolution": resolution,
        "from": time_range.start.isoformat(),
        "to": time_range.end.isoformat(),
        "buckets": [b.isoformat() for b in buckets],
        "samples": samples,
        "series": series,
        "disks": _keyed_series(
            f"SELECT {bin_sql}, d.key, avg({_disk_used_sql()}) FROM {table} CROSS JOIN LATERAL "
            "jsonb_each(CASE WHEN jsonb_typeof(disks) = 'object' THEN disks ELSE '{}' END) AS d "
            "WHERE node_id = %s AND time >= %s AND time < %s GROUP BY 1, 2",
            [step, METRIC_ORIGIN, *bounds], index,
        ),
        "services": _keyed_series(
            f"SELECT {bin_sql}, s.key, avg(CASE WHEN s.value = 'true'::jsonb THEN 1.0 ELSE 0.0 END) FROM {table} "
            "CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(services) = 'object' THEN services ELSE '{}' END) "
            "AS s WHERE node_id = %s AND time >= %s AND time < %s GROUP BY 1, 2",
            [step, METRIC_ORIGIN, *bounds], index,
        ),
    }


def _keyed_series(sql: str, params: list, index: dict) -> dict[str, list[float | None]]:
    series: dict[str, list[float | None]] = {}
    for bucket, key, value in _fetch(sql, params):
        series.setdefault(key, [None] * len(index))[index[bucket]] = None if value is None else float(value)
    return dict(sorted(series.items()))


def node_latest_metric(*, node: Node) -> NodeMetric | None:
    """The node's newest report (the partitioned table's node/time index finds it at once)."""
    return NodeMetric.objects.filter(node_id=node.pk).order_by("-time").first()


def node_ip_counts(*, node: Node) -> dict[str, int]:
    """The node's sending IPs by status (every status present, zeros included) and in total."""
    from apps.ips.choices import IpStatus

    by_status = dict(node.ips.order_by().values_list("status").annotate(n=Count("id")))
    counts = {status: by_status.get(status, 0) for status in IpStatus.values}
    return {"total": sum(counts.values()), **counts}


def node_is_mta(node: Node) -> bool:
    """MTA nodes send mail: they have sending IPs and destinations."""
    return node.role in MTA_ROLES


def node_service_uptime(*, node: Node, time_range: TimeRange) -> dict[str, dict]:
    """Per service named in the node's reports over the range: reports up, reports naming it, share up."""
    rows = _fetch(
        "SELECT s.key, count(*) FILTER (WHERE s.value = 'true'::jsonb), count(*) "
        f"FROM {NodeMetric._meta.db_table} CROSS JOIN LATERAL jsonb_each(CASE WHEN jsonb_typeof(services) = "
        "'object' THEN services ELSE '{}' END) AS s WHERE node_id = %s AND time >= %s AND time < %s GROUP BY 1",
        [node.pk, time_range.start, time_range.end],
    )
    return {name: {"up": up, "reports": n, "share": up / n} for name, up, n in sorted(rows)}
