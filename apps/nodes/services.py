"""Writes about nodes: registration (with per-key caps and approval) and the silent-node sweep."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from apps.core.audit import audit_record, snapshot
from apps.core.live import broadcast
from apps.core.redis import get_redis

from . import selectors
from .choices import NodeRole, NodeStatus
from .models import Node

if TYPE_CHECKING:
    from apps.core.models import AgentAPIKey

log = logging.getLogger(__name__)


class NodeRegistrationRefused(Exception):
    """An agent key may not register these nodes now: ``status`` 403 (its node limit) or 429 (too
    many new hostnames this minute, retry after ``retry_after`` seconds)."""

    def __init__(self, message: str, *, status: int, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def nodes_ensure(*, hostnames: Iterable[str], key: AgentAPIKey | None = None) -> dict[str, int]:
    """Map hostnames to node ids, registering unknown ones (role 'other', status unknown).

    With the ``key`` whose report names them, new nodes count against that key's limits
    (:func:`node_registration_check`, raising :class:`NodeRegistrationRefused`) and wait for
    approval when the key or ``MAILMON_NODE_APPROVAL_REQUIRED`` asks for it.
    """
    wanted = set(hostnames)
    found = dict(Node.objects.filter(hostname__in=wanted).values_list("hostname", "id"))
    missing = wanted - found.keys()
    if missing:
        if key is not None:
            node_registration_check(key=key, new=len(missing))
        approved = not node_approval_required(key)
        Node.objects.bulk_create(
            [
                Node(hostname=h, role=NodeRole.OTHER, status=NodeStatus.UNKNOWN, approved=approved, registered_by=key)
                for h in sorted(missing)
            ],
            ignore_conflicts=True,
        )
        found.update(Node.objects.filter(hostname__in=missing).values_list("hostname", "id"))
    return found


def node_approval_required(key: AgentAPIKey | None) -> bool:
    return settings.MAILMON_NODE_APPROVAL_REQUIRED or bool(key is not None and key.require_node_approval)


def node_registration_check(*, key: AgentAPIKey, new: int) -> None:
    """Refuse ``new`` more nodes from ``key`` past its node limit or its new-hostnames-per-minute rate."""
    cap = key.node_cap()
    registered = Node.objects.filter(registered_by=key).count()
    if registered + new > cap:
        raise NodeRegistrationRefused(
            f"Node limit reached: key {key.name!r} may register at most {cap} nodes ({registered} registered, "
            f"{new} new here). An admin can raise the key's max nodes or MAILMON_NODES_PER_KEY.",
            status=403,
        )
    rate = key.new_node_rate()
    retry_after = _new_nodes_take(key, new, rate)
    if retry_after is not None:
        raise NodeRegistrationRefused(
            f"Too many new nodes: key {key.name!r} may register at most {rate} new hostnames per minute "
            f"({new} new here). Retry after {retry_after} s.",
            status=429,
            retry_after=retry_after,
        )


def _new_nodes_take(key: AgentAPIKey, new: int, rate: int) -> int | None:
    """Count ``new`` registrations in this minute's window; seconds to wait if that would exceed ``rate``."""
    now = timezone.now().timestamp()
    bucket = f"nodes:new:{key.prefix}:{int(now // 60)}"
    try:
        with get_redis().pipeline() as pipe:
            taken, _ = pipe.incrby(bucket, new).expire(bucket, 120).execute()
        if taken <= rate:
            return None
        get_redis().decrby(bucket, new)
    except RedisError:  # registering a node matters more than counting it
        log.warning("new-node rate for key %s not enforced: Redis unreachable", key.prefix)
        return None
    return 60 - int(now % 60)


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


def node_metric_record(
    *, hostname: str, time: dt.datetime, role: str | None = None, key: AgentAPIKey | None = None, **values
) -> Node:
    """Store one agent report and mark the node as seen (online, or degraded when a service is down).

    A new hostname is registered under ``key``'s limits (:func:`nodes_ensure`). Idempotent per
    (node, time): an agent replaying its spool after a lost answer resends reports the portal
    already has, and each is stored once."""
    from apps.core import timeseries

    from .models import NodeMetric

    node_id = nodes_ensure(hostnames=[hostname], key=key)[hostname]
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


def nodes_approve(*, nodes: Iterable[Node], actor, remote_addr: str | None = None) -> int:
    """Admit nodes waiting for approval into the fleet (audited, one entry each); returns how many."""
    approved = 0
    for node in nodes:
        if node.approved:
            continue
        node.approved = True
        node.full_clean()
        node.save(update_fields=["approved", "updated_at"])
        audit_record(actor=actor, action="node.approve", obj=node, before={"approved": False},
                     after={"approved": True}, remote_addr=remote_addr)
        approved += 1
    if approved:
        summary = selectors.fleet_summary()
        transaction.on_commit(lambda: broadcast("fleet", "summary", summary))
    return approved


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
