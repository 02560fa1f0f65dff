"""The pools page: counts and 24-hour figures per pool; members with weights editable by operators."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.core.models import AuditLog
from apps.ips.choices import IpStatus
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool():
    node = NodeFactory(hostname="mta-1")
    pool = IpPoolFactory(name="transactional", type="transactional", description="receipts")
    SendingIPFactory(address="198.51.100.1", node=node, pool=pool)
    SendingIPFactory(address="198.51.100.2", node=node, pool=pool, status=IpStatus.PAUSED)
    IpPoolFactory(name="empty")
    now = timezone.now()
    store_events([event(time=now, node_id=node.id, sending_ip="198.51.100.1") for _ in range(3)]
                 + [event(time=now, node_id=node.id, sending_ip="198.51.100.1", type="bounced")])
    return pool


def test_the_pools_page_shows_counts_and_figures(viewer_client, pool):
    response = viewer_client.get("/pools/")
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('data-pool="transactional"')
    row = html[start:html.index("</tr>", start)]
    assert "<td class=\"num\" data-active>1</td>" in row and "<td class=\"num\" data-paused>1</td>" in row
    assert "<td class=\"num\" data-sent>4</td>" in row
    assert "25 %" in row


def test_the_pool_page_lists_members_and_an_operator_sets_a_weight(operator_client, pool):
    page = operator_client.get(f"/pools/{pool.pk}/")
    assert 'data-ip="198.51.100.1"' in page.content.decode()
    ip = pool.ips.get(address="198.51.100.1")
    operator_client.post(f"/pools/{pool.pk}/weight", {"ip": ip.pk, "weight": "250"})
    ip.refresh_from_db()
    assert ip.weight == 250
    assert AuditLog.objects.get(action="ip.change").after == {"weight": 250}
    operator_client.post(f"/pools/{pool.pk}/weight", {"ip": ip.pk, "weight": "5000"})
    ip.refresh_from_db()
    assert ip.weight == 250


def test_a_viewer_cannot_set_weights(viewer_client, pool):
    ip = pool.ips.first()
    assert viewer_client.post(f"/pools/{pool.pk}/weight", {"ip": ip.pk, "weight": "5"}).status_code == 403
