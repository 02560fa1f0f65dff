"""Reads about the fleet for pages, API and live updates."""

from __future__ import annotations

from django.db.models import Count

from .choices import NodeStatus
from .models import Node


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
