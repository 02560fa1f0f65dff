"""The node page: each tab with data and empty, the tab and range kept in links, 404, 400, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.nodes.choices import NodeRole
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.nodes.metrics import every_15s, store_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def mta():
    return NodeFactory(hostname="mta-1.example.net", role=NodeRole.ZONEMTA)


def _reports(node, count: int = 20, **fields):
    start = timezone.now() - dt.timedelta(minutes=30)
    defaults = {"cpu_percent": lambda i: 20.0 + i, "memory_percent": 61.0, "load1": 0.5, "queue_size": 4,
                "net_rx_bytes": lambda i: 1000 * i, "net_tx_bytes": lambda i: 2000 * i,
                "disks": {"/": {"used_percent": 71.0}}, "services": lambda i: {"zonemta": i != 3, "redis": True}}
    return store_metrics(node, every_15s(start, count, **(defaults | fields)))


def _page(client, hostname: str, **query):
    return client.get(f"/nodes/{hostname}/", query)


def test_the_performance_tab_draws_every_resource_chart_from_the_reports(viewer_client, mta):
    _reports(mta)
    response = _page(viewer_client, mta.hostname, range="1h")
    html = response.content.decode()
    assert response.status_code == 200
    for chart in ("resources", "disks", "network", "load", "queue"):
        assert f'id="fig-{chart}"' in html, chart
    assert "1m buckets" in html


def test_the_performance_tab_shows_the_nodes_mail_figures(viewer_client, mta):
    other = NodeFactory()
    now = timezone.now()
    store_events([event(time=now - dt.timedelta(minutes=5), node_id=mta.pk, delay_ms=900),
                  event(time=now - dt.timedelta(minutes=4), node_id=mta.pk, type="bounced", status_code=550),
                  event(time=now - dt.timedelta(minutes=4), node_id=other.pk)])
    response = _page(viewer_client, mta.hostname, range="1h")
    assert response.context["stats"]["sent"] == 2  # the other node's delivery is not counted
    assert response.context["bounce_percent"] == 50.0
    html = response.content.decode()
    assert 'data-stat="bounce-rate">50.0 %' in html
    assert 'id="fig-throughput"' in html and 'id="fig-bounce-rate"' in html


def test_a_node_without_reports_says_so_instead_of_drawing(viewer_client, mta):
    html = _page(viewer_client, mta.hostname).content.decode()
    assert "The agent sent no reports in this range." in html
    assert "No mail sent from this node in this range." in html
    assert 'id="fig-resources"' not in html


def test_a_non_mta_node_has_no_mail_figures_nor_mta_tabs(viewer_client):
    node = NodeFactory(hostname="redis-1.example.net", role=NodeRole.REDIS)
    html = _page(viewer_client, node.hostname).content.decode()
    assert 'data-tab-link="services"' in html and 'data-tab-link="ips"' not in html
    assert 'id="node-mail-tiles"' not in html
    assert _page(viewer_client, node.hostname, tab="ips").status_code == 400


def test_the_services_tab_shows_the_timeline_and_the_state_now(viewer_client, mta):
    _reports(mta, services=lambda i: {"zonemta": i != 3, "redis": i < 19})
    response = _page(viewer_client, mta.hostname, tab="services", range="1h")
    html = response.content.decode()
    assert 'id="fig-services"' in html
    rows = {row["name"]: row for row in response.context["service_rows"]}
    assert rows["redis"]["up_now"] is False and rows["zonemta"]["up_now"] is True
    assert rows["zonemta"]["uptime_percent"] == pytest.approx(95.0)


def test_the_services_tab_without_reports_is_empty(viewer_client, mta):
    html = _page(viewer_client, mta.hostname, tab="services").content.decode()
    assert "No service reports in this range." in html
    assert "The agent has not reported any service on this node." in html


def test_the_ips_tab_lists_the_nodes_sending_ips(viewer_client, mta):
    SendingIPFactory(address="198.51.100.7", node=mta, status="paused")
    SendingIPFactory(address="198.51.100.8")
    html = _page(viewer_client, mta.hostname, tab="ips").content.decode()
    assert 'data-ip="198.51.100.7"' in html and "Paused" in html
    assert "198.51.100.8" not in html


def test_the_ips_tab_without_ips_says_so(viewer_client, mta):
    assert "No sending IPs are assigned to this node." in _page(viewer_client, mta.hostname, tab="ips").content.decode()


def test_the_destinations_tab_counts_this_nodes_mail_per_domain(viewer_client, mta):
    now = timezone.now() - dt.timedelta(minutes=5)
    other = NodeFactory()
    store_events([event(time=now, node_id=mta.pk, recipient_domain="gmail.com"),
                  event(time=now, node_id=mta.pk, recipient_domain="gmail.com", type="bounced"),
                  event(time=now, node_id=other.pk, recipient_domain="yahoo.com")])
    response = _page(viewer_client, mta.hostname, tab="destinations", range="1h")
    rows = response.context["rows"]
    assert [(r["domain"], r["sent"], r["bounced"]) for r in rows] == [("gmail.com", 2, 1)]
    assert f"node={mta.pk}" in rows[0]["search"] and "to_domain=gmail.com" in rows[0]["search"]
    assert 'id="fig-destinations"' in response.content.decode()


def test_the_destinations_tab_without_mail_is_empty(viewer_client, mta):
    html = _page(viewer_client, mta.hostname, tab="destinations").content.decode()
    assert "No mail sent from this node in this range." in html


def test_tab_links_keep_the_range_and_the_picker_keeps_the_tab(viewer_client, mta):
    html = _page(viewer_client, mta.hostname, tab="services", range="7d").content.decode()
    assert 'href="?range=7d&amp;tab=performance"' in html
    assert '<input type="hidden" name="tab" value="services">' in html
    assert 'name="node"' not in html  # the node is the filter: the picker shows the range only


def test_an_htmx_tab_switch_returns_the_partial(viewer_client, mta):
    response = viewer_client.get(f"/nodes/{mta.hostname}/", {"tab": "ips"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="node-ips"' not in html
    assert 'data-tab="ips"' in html


def test_an_unknown_hostname_is_404(viewer_client):
    assert _page(viewer_client, "nowhere.example.net").status_code == 404


@pytest.mark.parametrize(("query", "field"), [({"tab": "bogus"}, "tab"), ({"range": "2y"}, "range"),
                                              ({"range": "custom", "from": "yesterday"}, "from")])
def test_bad_parameters_answer_400_naming_the_field(viewer_client, mta, query, field):
    response = _page(viewer_client, mta.hostname, **query)
    assert response.status_code == 400
    assert f'data-error-field="{field}"' in response.content.decode()


def test_a_node_waiting_for_approval_shows_a_banner(viewer_client):
    node = NodeFactory(hostname="new.example.net", approved=False)
    assert "data-pending-approval" in _page(viewer_client, node.hostname).content.decode()
    assert "data-pending-approval" not in _page(viewer_client, NodeFactory().hostname).content.decode()


def test_the_page_needs_a_login(client, mta):
    assert _page(client, mta.hostname).status_code == 302


@pytest.mark.parametrize("tab", ["performance", "services", "ips", "destinations"])
def test_the_query_count_of_each_tab_does_not_grow_with_data(viewer_client, mta, tab, django_assert_max_num_queries):
    _reports(mta, count=200)
    for i in range(20):
        SendingIPFactory(node=mta, address=f"203.0.113.{i + 1}")
    with django_assert_max_num_queries(14):
        assert _page(viewer_client, mta.hostname, tab=tab).status_code == 200


def test_odd_hostnames_still_have_a_page_and_links(viewer_client, admin_role_client):
    node = NodeFactory(hostname="rack/mx 1?#", role=NodeRole.POSTFIX)
    url = node.get_absolute_url()
    assert url == "/nodes/rack/mx%201%3F%23/"
    assert viewer_client.get(url).context["node"] == node
    assert url in admin_role_client.get("/admin/nodes/node/").content.decode()


def test_the_queue_page_links_each_node_to_its_page(viewer_client, mta):
    _reports(mta, count=120)  # the last half hour: its latest report is "now"
    html = viewer_client.get("/events/queue/", {"range": "1h"}).content.decode()
    assert f'<a href="/nodes/{mta.hostname}/">{mta.hostname}</a>' in html
