"""Reads about the fleet for pages, API and live updates."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import Count

from .choices import NodeStatus
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
