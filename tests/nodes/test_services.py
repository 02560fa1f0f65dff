"""Node services: agent reports mark nodes online/degraded; silent nodes go offline."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import Node, NodeMetric
from apps.nodes.selectors import fleet_summary
from apps.nodes.services import node_metric_record, nodes_ensure, nodes_refresh_status
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


def _ago(**kwargs) -> dt.datetime:
    return timezone.now() - dt.timedelta(**kwargs)


def test_a_report_from_an_unknown_host_registers_the_node_online():
    node = node_metric_record(hostname="new.example.net", time=timezone.now(), role=NodeRole.HARAKA, cpu_percent=5)
    assert (node.hostname, node.role, node.status) == ("new.example.net", NodeRole.HARAKA, NodeStatus.ONLINE)
    assert NodeMetric.objects.get(node_id=node.pk).cpu_percent == 5


def test_a_report_with_a_service_down_marks_the_node_degraded_and_a_good_one_restores_it():
    node = NodeFactory(status=NodeStatus.ONLINE)
    now = timezone.now()
    degraded = node_metric_record(hostname=node.hostname, time=now, services={"zonemta": True, "redis": False})
    assert degraded.status == NodeStatus.DEGRADED
    online = node_metric_record(hostname=node.hostname, time=now, services={"zonemta": True, "redis": True})
    assert online.status == NodeStatus.ONLINE


def test_a_report_keeps_a_node_in_maintenance():
    node = NodeFactory(status=NodeStatus.MAINTENANCE)
    assert node_metric_record(hostname=node.hostname, time=timezone.now()).status == NodeStatus.MAINTENANCE


def test_a_late_report_does_not_move_last_seen_backwards():
    node = NodeFactory(last_seen=timezone.now())
    seen = node.last_seen
    node = node_metric_record(hostname=node.hostname, time=seen - dt.timedelta(minutes=5))
    assert node.last_seen == seen


def test_a_report_does_not_override_a_role_set_by_hand():
    node = NodeFactory(role=NodeRole.POSTFIX)
    reported = node_metric_record(hostname=node.hostname, time=timezone.now(), role=NodeRole.HARAKA)
    assert reported.role == NodeRole.POSTFIX


def test_a_resent_report_is_stored_once():
    node = NodeFactory()
    when = _ago(minutes=3)
    node_metric_record(hostname=node.hostname, time=when, load1=0.5)
    node_metric_record(hostname=node.hostname, time=when, load1=0.5)  # the agent never saw the 202
    assert NodeMetric.objects.filter(node_id=node.pk).count() == 1


def test_a_report_for_yesterday_lands_in_its_partition():
    node = NodeFactory()
    when = _ago(days=1)
    node_metric_record(hostname=node.hostname, time=when, load1=0.5)
    assert NodeMetric.objects.filter(node_id=node.pk, time=when).exists()


def test_a_silent_node_goes_offline(settings):
    settings.MAILMON_NODE_SILENT_AFTER = 60
    quiet = NodeFactory(status=NodeStatus.ONLINE, last_seen=_ago(seconds=120))
    degraded_quiet = NodeFactory(status=NodeStatus.DEGRADED, last_seen=_ago(minutes=10))
    fresh = NodeFactory(status=NodeStatus.ONLINE, last_seen=_ago(seconds=10))
    in_maintenance = NodeFactory(status=NodeStatus.MAINTENANCE, last_seen=_ago(days=2))
    assert nodes_refresh_status() == 2
    statuses = dict(Node.objects.values_list("pk", "status"))
    assert statuses[quiet.pk] == statuses[degraded_quiet.pk] == NodeStatus.OFFLINE
    assert statuses[fresh.pk] == NodeStatus.ONLINE
    assert statuses[in_maintenance.pk] == NodeStatus.MAINTENANCE


def test_an_offline_node_that_reports_again_comes_back_online():
    node = NodeFactory(status=NodeStatus.OFFLINE, last_seen=_ago(hours=1))
    assert node_metric_record(hostname=node.hostname, time=timezone.now()).status == NodeStatus.ONLINE
    assert nodes_refresh_status() == 0


def test_nodes_ensure_registers_only_the_missing_hostnames():
    existing = NodeFactory(hostname="a.example.net")
    ids = nodes_ensure(hostnames=["a.example.net", "b.example.net", "b.example.net"])
    assert ids["a.example.net"] == existing.pk
    assert Node.objects.get(pk=ids["b.example.net"]).status == NodeStatus.UNKNOWN
    assert Node.objects.count() == 2


def test_the_fleet_summary_counts_every_status():
    NodeFactory(status=NodeStatus.ONLINE)
    NodeFactory(status=NodeStatus.ONLINE)
    NodeFactory(status=NodeStatus.OFFLINE, role=NodeRole.REDIS)
    summary = fleet_summary()
    assert summary["total"] == 3
    assert summary["by_status"] == {
        "online": 2, "degraded": 0, "offline": 1, "maintenance": 0, "unknown": 0
    }
    assert summary["by_role"] == {NodeRole.ZONEMTA: 2, NodeRole.REDIS: 1}


def test_maintenance_is_set_and_ended_by_the_service_and_audited():
    from apps.core.models import AuditLog
    from apps.nodes.services import node_maintenance_set

    node = NodeFactory(status=NodeStatus.ONLINE)
    node_maintenance_set(node=node, on=True, actor=None)
    node_maintenance_set(node=node, on=True, actor=None)  # already: nothing recorded twice
    assert Node.objects.get(pk=node.pk).status == NodeStatus.MAINTENANCE
    node_maintenance_set(node=node, on=False, actor=None, remote_addr="192.0.2.1")
    assert Node.objects.get(pk=node.pk).status == NodeStatus.UNKNOWN
    entries = list(AuditLog.objects.order_by("id").values_list("action", "before", "after", "remote_addr"))
    assert entries == [
        ("node.maintenance_start", {"status": "online"}, {"status": "maintenance"}, None),
        ("node.maintenance_end", {"status": "maintenance"}, {"status": "unknown"}, "192.0.2.1"),
    ]
