"""The evaluation round: for-durations, resolution, flap damping, one read per source."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.alerts.evaluate import evaluate_round
from apps.alerts.models import Alert
from apps.alerts.services import evaluation_run
from tests.nodes.factories import NodeFactory

from .factories import RuleFactory, report

pytestmark = pytest.mark.django_db
STEP = dt.timedelta(seconds=30)


def _rounds(node, start, cpu_values):
    """One report and one evaluation every 30 s; returns the alert states after each round."""
    states = []
    for i, cpu in enumerate(cpu_values):
        now = start + i * STEP
        report(node, now, cpu_percent=cpu)
        evaluation_run(now=now)
        alert = Alert.objects.filter(rule__name="cpu").order_by("-id").first()
        states.append(alert.status if alert else "ok")
    return states


def test_it_fires_within_one_evaluation_after_the_duration_and_not_before():
    RuleFactory(name="cpu", for_seconds=120)
    node = NodeFactory(hostname="mx1.example.net")
    states = _rounds(node, timezone.now(), [95] * 6)
    # t=0 pending ... t=90 still pending (held 90 s < 120 s), t=120 firing
    assert states == ["pending", "pending", "pending", "pending", "firing", "firing"]


def test_a_pending_alert_that_clears_leaves_no_trace():
    RuleFactory(name="cpu", for_seconds=120)
    node = NodeFactory()
    assert _rounds(node, timezone.now(), [95, 95, 10]) == ["pending", "pending", "ok"]
    assert not Alert.objects.exists()


def test_it_resolves_once_the_condition_has_cleared_for_resolve_seconds():
    RuleFactory(name="cpu", for_seconds=0, resolve_seconds=60)
    node = NodeFactory()
    states = _rounds(node, timezone.now(), [95, 10, 10, 10])
    assert states == ["firing", "firing", "firing", "resolved"]
    alert = Alert.objects.get()
    assert alert.resolved_at is not None and alert.fired_at is not None


def test_flapping_is_damped_into_one_firing_episode():
    RuleFactory(name="cpu", for_seconds=0, resolve_seconds=90)
    node = NodeFactory()
    states = _rounds(node, timezone.now(), [95, 10, 95, 10, 95, 10, 95])
    assert set(states) == {"firing"}
    assert Alert.objects.count() == 1


def test_hysteresis_keeps_it_firing_until_the_value_is_well_past_the_threshold():
    RuleFactory(name="cpu", for_seconds=0, resolve_seconds=0, hysteresis=10)
    node = NodeFactory()
    assert _rounds(node, timezone.now(), [95, 75, 69]) == ["firing", "firing", "resolved"]


def test_without_damping_a_flap_resolves_and_fires_again():
    RuleFactory(name="cpu", for_seconds=0, resolve_seconds=0)
    node = NodeFactory()
    assert _rounds(node, timezone.now(), [95, 10, 95]) == ["firing", "resolved", "firing"]
    assert Alert.objects.count() == 2


def test_scope_limits_the_subjects():
    RuleFactory(name="cpu", for_seconds=0, scope="node:mx2.example.net")
    now = timezone.now()
    report(NodeFactory(hostname="mx1.example.net"), now, cpu_percent=99)
    report(NodeFactory(hostname="mx2.example.net"), now, cpu_percent=99)
    evaluate_round(now=now)
    assert list(Alert.objects.values_list("subject", flat=True)) == ["node:mx2.example.net"]


def test_an_offline_node_and_a_down_service_fire():
    RuleFactory(name="offline", source="node.offline", threshold=0, for_seconds=0)
    RuleFactory(name="svc", source="node.service_down", threshold=0, for_seconds=0)
    now = timezone.now()
    NodeFactory(hostname="dead.example.net", status="offline")
    report(NodeFactory(hostname="mx1.example.net"), now, services={"smtp": False, "imap": True})
    evaluate_round(now=now)
    fired = set(Alert.objects.firing().values_list("rule__name", "subject"))
    assert fired == {("offline", "node:dead.example.net"), ("svc", "node:mx1.example.net")}


def test_the_round_reads_each_source_once_however_many_rules_and_nodes():
    now = timezone.now()
    for i in range(5):
        report(NodeFactory(hostname=f"n{i}.example.net"), now, cpu_percent=50 + i)

    def queries(rules: int) -> int:
        for i in range(rules):
            RuleFactory(source=["node.cpu", "node.queue", "node.load"][i % 3], threshold=1000 + i)
        with CaptureQueriesContext(connection) as ctx:
            evaluate_round(now=now)
        return len(ctx.captured_queries)

    few = queries(3)
    assert queries(30) == few
