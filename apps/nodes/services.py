"""Writes about nodes: registration and the silent-node sweep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import audit_record, snapshot
from apps.core.live import broadcast

from . import selectors
from .choices import NodeRole, NodeStatus
from .models import Node


def nodes_ensure(*, hostnames: Iterable[str]) -> dict[str, int]:
    """Map hostnames to node ids, registering unknown ones (role 'other', status unknown)."""
    wanted = set(hostnames)
    found = dict(Node.objects.filter(hostname__in=wanted).values_list("hostname", "id"))
    missing = wanted - found.keys()
    if missing:
        Node.objects.bulk_create(
            [Node(hostname=h, role=NodeRole.OTHER, status=NodeStatus.UNKNOWN) for h in sorted(missing)],
            ignore_conflicts=True,
        )
        found.update(Node.objects.filter(hostname__in=missing).values_list("hostname", "id"))
    return found


def silent_after() -> dt.timedelta:
    return dt.timedelta(seconds=getattr(settings, "MAILMON_NODE_SILENT_AFTER", 60))


def nodes_refresh_status(*, now: dt.datetime | None = None) -> int:
    """Mark nodes whose agent went silent as offline; returns how many changed."""
    now = now or timezone.now()
    changed = 0
    for node in Node.objects.exclude(status=NodeStatus.MAINTENANCE).exclude(last_seen__isnull=True):
        status = node.expected_status(silent_after=silent_after(), now=now)
        if status != node.status:
            Node.objects.filter(pk=node.pk).update(status=status)
            changed += 1
    summary = selectors.fleet_summary()
    transaction.on_commit(lambda: broadcast("fleet", "summary", summary))
    return changed


def node_metric_record(*, hostname: str, time: dt.datetime, role: str | None = None, **values) -> Node:
    """Store one agent report and mark the node as seen (online, or degraded when a service is down).

    Idempotent per (node, time): an agent replaying its spool after a lost answer resends
    reports the portal already has, and each is stored once."""
    from apps.core import timeseries

    from .models import NodeMetric

    node_id = nodes_ensure(hostnames=[hostname])[hostname]
    timeseries.ensure_partitions(NodeMetric._meta.db_table, [time.date()])
    if not NodeMetric.objects.filter(node_id=node_id, time=time).exists():
        NodeMetric.objects.create(node_id=node_id, time=time, **values)
    services_down = [name for name, up in (values.get("services") or {}).items() if not up]
    node = Node.objects.get(pk=node_id)
    updates = {"last_seen": max(time, node.last_seen) if node.last_seen else time}
    if node.status != NodeStatus.MAINTENANCE:
        updates["status"] = NodeStatus.DEGRADED if services_down else NodeStatus.ONLINE
    if role and node.role == NodeRole.OTHER:
        updates["role"] = role
    Node.objects.filter(pk=node_id).update(**updates)
    node.refresh_from_db()
    return node


def node_maintenance_set(*, node: Node, on: bool, actor, remote_addr: str | None = None) -> Node:
    """Put a node into maintenance (kept through agent reports and the silent-node sweep) or
    take it out (status unknown until its next report); audited. No-op if already so."""
    if on == (node.status == NodeStatus.MAINTENANCE):
        return node
    before = snapshot(node, ["status"])
    node.status = NodeStatus.MAINTENANCE if on else NodeStatus.UNKNOWN
    node.full_clean()
    node.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        action="node.maintenance_start" if on else "node.maintenance_end",
        obj=node,
        before=before,
        after={"status": node.status},
        remote_addr=remote_addr,
    )
    return node
