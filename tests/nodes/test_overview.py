"""The overview leads with what needs attention; cards, queues and the flow summary; query guards."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.ips.models import SendingIP
from apps.nodes.attention import attention_items
from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import NodeMetric
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


def _report(node, minutes_ago: float, **values) -> None:
    NodeMetric.objects.create(node=node, time=timezone.now() - dt.timedelta(minutes=minutes_ago), **values)


@pytest.fixture
def throttled(db):
    """mta-out-1: queue 874 → 1,488, and Gmail deferring 4.7.28 from its IP in the last minutes."""
    now = timezone.now()
    mta = NodeFactory(hostname="mta-out-1.example.net", role=NodeRole.ZONEMTA, last_seen=now)
    calm = NodeFactory(hostname="mta-out-2.example.net", role=NodeRole.ZONEMTA, last_seen=now)
    _report(mta, 16, queue_size=874, cpu_percent=30, memory_percent=40)
    _report(mta, 0.2, queue_size=1488, cpu_percent=35, memory_percent=41, disks={"/": {"used_percent": 50}})
    _report(calm, 0.2, queue_size=12, cpu_percent=10, memory_percent=20)
    t = now - dt.timedelta(minutes=3)
    rows = [event(time=t, node_id=mta.pk, sending_ip="192.0.2.10") for _ in range(58)]
    rows += [event(time=t, node_id=mta.pk, sending_ip="192.0.2.10", type="deferred", status_code=421,
                   enhanced_status="4.7.28", bounce_category="rate_limited", response="421-4.7.28 unusual rate")
             for _ in range(42)]  # fmt: skip
    rows += [event(time=t, node_id=calm.pk, sending_ip="192.0.2.20", recipient_domain="yahoo.com")
             for _ in range(100)]  # fmt: skip
    store_events(rows)
    SendingIP.objects.create(address="192.0.2.10", node=mta)
    return {"mta": mta, "calm": calm}


def test_attention_items_name_the_throttled_mta_and_ip_with_the_reason(throttled):
    items = {(i.kind, i.subject): i for i in attention_items()}
    mta = items[("mta", "mta-out-1.example.net")]
    assert mta.severity == "critical"
    assert mta.reason == "queue 1,488 and growing, 42.0 % of gmail.com deferred 4.7.28 in 15 min"
    assert mta.url == "/nodes/mta-out-1.example.net/"
    ip = items[("ip", "192.0.2.10")]
    assert ip.severity == "critical" and ip.reason == "42.0 % deferred in 15 min (4.7.28) (on mta-out-1.example.net)"
    assert ("domain", "gmail.com") in items
    assert not any(subject in ("mta-out-2.example.net", "192.0.2.20") for _kind, subject in items)


def test_the_overview_leads_with_the_unhealthy_mta_and_its_reason(viewer_client, throttled):
    html = viewer_client.get("/").content.decode()
    attention = html[html.index('id="attention"') : html.index('id="flow-title"')]
    assert "mta-out-1.example.net" in attention and "queue 1,488 and growing" in attention
    assert "42.0 % of gmail.com deferred 4.7.28 in 15 min" in attention
    assert "mta-out-2.example.net" not in attention
    assert html.index('data-node="mta-out-1.example.net" data-health="critical"') < html.index(
        'data-node="mta-out-2.example.net" data-health="ok"'
    )  # unhealthy cards first


def test_the_flow_summary_compares_the_last_hour_with_the_same_hour_last_week(viewer_client, throttled):
    mta = throttled["mta"]
    store_events([event(time=timezone.now() - dt.timedelta(days=7, minutes=20), node_id=mta.pk) for _ in range(7)])
    html = viewer_client.get("/").content.decode()
    sent = html[html.index('data-flow="sent"') : html.index("</tr>", html.index('data-flow="sent"'))]
    assert "<td>200</td>" in sent and '<td class="muted">7</td>' in sent
    deferred = html[html.index('data-flow="deferred"') :]
    assert "21.0 %" in deferred[:200]


def test_a_quiet_fleet_says_nothing_needs_attention(viewer_client):
    NodeFactory(hostname="a.example.net", last_seen=timezone.now())
    html = viewer_client.get("/").content.decode()
    assert "Nothing needs attention" in html


def test_the_status_filter_uses_health_and_an_unknown_value_is_a_400(viewer_client, throttled):
    html = viewer_client.get("/nodes/?status=critical", headers={"HX-Request": "true"}).content.decode()
    cards = html[html.index('id="node-cards"') :]
    assert "mta-out-1.example.net" in cards and "mta-out-2.example.net" not in cards
    response = viewer_client.get("/nodes/?status=purple")
    assert response.status_code == 400 and b"status: unknown status" in response.content


def _fleet_of(count: int) -> None:
    now = timezone.now()
    for n in range(count):
        node = NodeFactory(last_seen=now, status=NodeStatus.ONLINE)
        _report(node, 1, queue_size=n, cpu_percent=5, services={"zonemta": True})


def test_the_overview_queries_do_not_grow_with_the_fleet(viewer_client, django_assert_max_num_queries):
    _fleet_of(3)
    viewer_client.get("/")  # warm the session and permission caches the same way each time
    with CaptureQueriesContext(connection) as few:
        assert viewer_client.get("/").status_code == 200
    _fleet_of(97)
    with CaptureQueriesContext(connection) as many:
        html = viewer_client.get("/").content.decode()
    assert html.count('class="node-card ') == 100
    assert len(many) == len(few)
    # session, user, nodes waiting for approval, thresholds, nodes, latest reports, 4 rate queries,
    # the cards' last hour, 2 flow summaries, IPs
    with django_assert_max_num_queries(15):
        viewer_client.get("/")


def test_the_ip_table_ranks_by_bounce_and_deferral_rate(viewer_client, throttled):
    mta = throttled["mta"]
    t = timezone.now() - dt.timedelta(minutes=2)
    rows = [event(time=t, node_id=mta.pk, sending_ip="192.0.2.99") for _ in range(43)]
    rows += [event(time=t, node_id=mta.pk, sending_ip="192.0.2.99", type="bounced", status_code=554,
                   enhanced_status="5.7.1", bounce_category="blocklisted") for _ in range(8)]  # fmt: skip
    store_events(rows)
    html = viewer_client.get("/ips/health/").content.decode()
    order = [html.index(f'data-ip="{ip}"') for ip in ("192.0.2.99", "192.0.2.10", "192.0.2.20")]
    assert order == sorted(order)
    row = html[order[0] : order[1]]
    assert "15.7 % bounced in 15 min (5.7.1)" in row and "Critical" in row


def test_the_ip_table_query_count_does_not_grow_with_the_ips(viewer_client, django_assert_max_num_queries):
    node = NodeFactory()
    t = timezone.now() - dt.timedelta(minutes=2)
    store_events([event(time=t, node_id=node.pk, sending_ip=f"198.51.100.{n}") for n in range(1, 60)])
    with django_assert_max_num_queries(13):
        assert viewer_client.get("/ips/health/").status_code == 200


def test_thresholds_edited_in_the_admin_override_the_settings(throttled, settings):
    from apps.nodes.attention import thresholds
    from apps.nodes.models import HealthThresholds

    settings.MAILMON_HEALTH_QUEUE_SIZE = 1000
    assert thresholds().queue_size == 1000
    HealthThresholds.objects.create(queue_size=5000, deferral_warn=0.5, deferral_critical=0.6)
    t = thresholds()
    assert (t.queue_size, t.deferral_warn, t.cpu_percent) == (5000, 0.5, settings.MAILMON_HEALTH_CPU_PERCENT)
    items = {(i.kind, i.subject): i for i in attention_items()}
    mta = items[("mta", "mta-out-1.example.net")]  # 1,488 and growing: still a warning, 42 % deferred is fine now
    assert mta.severity == "warning" and mta.reason == "queue 1,488 and growing (from 874)"


def test_an_admin_edits_the_thresholds_and_a_critical_below_its_warning_is_refused(admin_role_client):
    from apps.core.models import AuditLog
    from apps.nodes.models import HealthThresholds

    response = admin_role_client.post("/admin/nodes/healththresholds/add/",
                                      {"bounce_warn": "0.2", "bounce_critical": "0.1"})
    assert response.status_code == 200 and b"bounce_critical: must be at least bounce_warn" in response.content
    response = admin_role_client.post("/admin/nodes/healththresholds/add/", {"queue_size": "3000"})
    assert response.status_code == 302
    assert HealthThresholds.objects.get().queue_size == 3000
    assert AuditLog.objects.filter(action="healththresholds.create").exists()
    assert admin_role_client.get("/admin/nodes/healththresholds/add/").status_code == 403  # one row only
