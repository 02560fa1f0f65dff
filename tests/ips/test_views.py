"""The IP table page: filters, CIDR search, sorting, pages; bulk actions with confirmation."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.core.models import AuditLog
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.django_db
URL = "/ips/"


def shown(response) -> list[str]:
    import re

    return re.findall(r'data-ip="([^"]+)"', response.content.decode())


@pytest.fixture
def inventory():
    node_a, node_b = NodeFactory(hostname="mta-a"), NodeFactory(hostname="mta-b")
    pool = IpPoolFactory(name="bulk")
    for i in range(1, 6):
        SendingIPFactory(address=f"198.51.100.{i}", node=node_a, pool=pool)
    SendingIPFactory(address="198.51.100.200", node=node_b, pool=None, status=IpStatus.PAUSED)
    SendingIPFactory(address="2001:db8::1", node=node_b, pool=pool, ptr="out1.example.net")
    return node_a, node_b, pool


def test_the_table_lists_ips_sorted_by_address(viewer_client, inventory):
    response = viewer_client.get(URL)
    assert response.status_code == 200
    assert shown(response)[:2] == ["198.51.100.1", "198.51.100.2"]
    assert shown(response)[-1] == "2001:db8::1"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "198.51.100.0/30"}, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]),
        ({"q": "198.51.100.200"}, ["198.51.100.200"]),
        ({"q": "out1"}, ["2001:db8::1"]),
        ({"version": "6"}, ["2001:db8::1"]),
        ({"status": "paused"}, ["198.51.100.200"]),
        ({"pool": "none"}, ["198.51.100.200"]),
    ],
)
def test_filters_and_cidr_search(viewer_client, inventory, query, expected):
    assert shown(viewer_client.get(URL, query)) == expected


def test_the_node_filter_shows_one_nodes_ips(viewer_client, inventory):
    assert shown(viewer_client.get(URL, {"node": inventory[1].id})) == ["198.51.100.200", "2001:db8::1"]


@pytest.mark.parametrize(("query", "field"), [({"q": "10.0.0.0/99"}, "q"), ({"status": "x"}, "status"),
                                               ({"sort": "nope"}, "sort"), ({"page_size": "7"}, "page_size")])
def test_bad_parameters_are_a_400_naming_the_field(viewer_client, inventory, query, field):
    response = viewer_client.get(URL, query)
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()


def test_it_sorts_by_sent_24h_from_the_rollups(viewer_client, inventory):
    now = timezone.now()
    store_events([event(time=now, node_id=inventory[0].id, sending_ip="198.51.100.4") for _ in range(3)]
                 + [event(time=now, node_id=inventory[0].id, sending_ip="198.51.100.2", type="bounced")])
    response = viewer_client.get(URL, {"sort": "-sent_24h"})
    assert shown(response)[:2] == ["198.51.100.4", "198.51.100.2"]
    assert "100.0 %" in response.content.decode()  # .2 bounced its only message


def test_pages_and_htmx_partial(viewer_client, inventory):
    response = viewer_client.get(URL, {"page_size": "25", "page": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "<h1>" not in response.content.decode()
    assert "7 IPs" in response.content.decode()


def test_the_table_query_count_does_not_grow_with_the_page(viewer_client, inventory, django_assert_max_num_queries):
    for i in range(60):
        SendingIPFactory(address=f"203.0.113.{i + 1}", node=inventory[0], pool=inventory[2])
    with django_assert_max_num_queries(12):
        viewer_client.get(URL, {"page_size": "100"})


def test_a_viewer_cannot_bulk_change(viewer_client, inventory):
    ip = SendingIP.objects.first()
    response = viewer_client.post("/ips/bulk", {"action": "pause", "ip": [ip.pk], "confirmed": "1"})
    assert response.status_code == 403


def test_bulk_pause_asks_for_confirmation_stating_how_many_change_then_applies(operator_client, inventory):
    ids = list(SendingIP.objects.filter(address__in=["198.51.100.1", "198.51.100.200"]).values_list("pk", flat=True))
    ask = operator_client.post("/ips/bulk", {"action": "pause", "ip": ids})
    assert ask.status_code == 200
    assert "1 IP will change" in ask.content.decode()
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 1

    done = operator_client.post("/ips/bulk", {"action": "pause", "ip": ids, "confirmed": "1", "reason": "test"})
    assert "1 IP set to pause" in done.content.decode()
    assert done["HX-Trigger"] == "ips-refresh"
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 2
    assert AuditLog.objects.filter(action="ip.paused", reason="test", actor_label="operator").count() == 1


def test_bulk_on_all_matching_the_filter(operator_client, inventory):
    response = operator_client.post(
        "/ips/bulk", {"action": "quarantine", "all": "1", "q": "198.51.100.0/29", "confirmed": "1"}
    )
    assert response.status_code == 200
    assert SendingIP.objects.filter(status=IpStatus.QUARANTINED).count() == 5


def test_bulk_assign_to_pool(operator_client, inventory):
    other = IpPoolFactory(name="other")
    operator_client.post("/ips/bulk", {"action": "assign_pool", "target_pool": other.pk, "all": "1",
                                       "version": "6", "confirmed": "1"})
    assert SendingIP.objects.get(address="2001:db8::1").pool == other
    assert AuditLog.objects.filter(action="ip.pool_change").count() == 1


@pytest.mark.parametrize(("data", "field"), [({"action": "explode", "ip": ["1"]}, "action"),
                                             ({"action": "pause"}, "ip"),
                                             ({"action": "assign_pool", "ip": ["1"]}, "target_pool")])
def test_bad_bulk_requests_name_the_field(operator_client, inventory, data, field):
    response = operator_client.post("/ips/bulk", data)
    assert response.status_code == 400
    assert f"{field}:" in response.content.decode()
