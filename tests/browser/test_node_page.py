"""A node's page in a real browser: charts drawn, tabs and the range picker swapped by htmx, state in the URL."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from apps.nodes.choices import NodeRole
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.nodes.metrics import every_15s, store_metrics

pytestmark = pytest.mark.browser

HOST = "mta-1.example.net"


@pytest.fixture
def mta(transactional_db):
    """Twenty minutes of agent reports (zonemta down once), a sending IP and some mail."""
    node = NodeFactory(hostname=HOST, role=NodeRole.ZONEMTA)
    now = dt.datetime.now(dt.UTC)
    store_metrics(node, every_15s(now - dt.timedelta(minutes=20), 60, cpu_percent=lambda i: 20.0 + i % 7,
                                  memory_percent=55.0, load1=0.4, queue_size=lambda i: i % 5,
                                  net_rx_bytes=lambda i: 5000 * i, net_tx_bytes=lambda i: 9000 * i,
                                  disks={"/": {"used_percent": 71.0}},
                                  services=lambda i: {"zonemta": i != 30, "redis": True}))
    SendingIPFactory(address="198.51.100.7", node=node)
    t = now - dt.timedelta(minutes=10)
    store_events([event(time=t, node_id=node.pk) for _ in range(4)]
                 + [event(time=t, node_id=node.pk, type="bounced", status_code=550, recipient_domain="yahoo.com")])
    return node


@pytest.fixture
def console_errors(logged_in_page):
    errors: list[str] = []
    logged_in_page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    logged_in_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    logged_in_page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def _drawn(page, chart: str):
    expect(page.locator(f"#chart-{chart}.js-plotly-plot .main-svg").first).to_be_visible()


def test_switching_tabs_and_range_keeps_both_in_the_url(logged_in_page, console_errors, mta, live_url):
    page = logged_in_page
    page.goto(f"/nodes/{HOST}/?range=1h")
    expect(page.get_by_role("heading", name=HOST)).to_be_visible()
    for chart in ("resources", "disks", "network", "load", "queue", "throughput", "bounce-rate"):
        _drawn(page, chart)
    expect(page.locator('[data-stat="bounce-rate"]')).to_have_text("20.0 %")
    page.evaluate("window.__notReloaded = true")

    page.locator('[data-tab-link="services"]').click()
    page.wait_for_url(live_url + f"/nodes/{HOST}/?range=1h&tab=services")
    _drawn(page, "services")
    expect(page.locator('#node-services tr[data-service="zonemta"]')).to_contain_text("up")

    page.get_by_text("6 h", exact=True).click()  # the picker keeps the tab
    page.wait_for_url(live_url + f"/nodes/{HOST}/?range=6h&tab=services")
    _drawn(page, "services")

    page.locator('[data-tab-link="ips"]').click()
    page.wait_for_url(live_url + f"/nodes/{HOST}/?range=6h&tab=ips")
    expect(page.locator('#node-ips tr[data-ip="198.51.100.7"]')).to_contain_text("Active")

    page.locator('[data-tab-link="destinations"]').click()
    page.wait_for_url(live_url + f"/nodes/{HOST}/?range=6h&tab=destinations")
    expect(page.locator("#node-destinations tbody tr")).to_have_count(2)
    assert page.evaluate("window.__notReloaded") is True  # every switch swapped in place

    page.go_back()
    page.wait_for_url(live_url + f"/nodes/{HOST}/?range=6h&tab=ips")
    expect(page.locator('#node-ips tr[data-ip="198.51.100.7"]')).to_be_visible()
    assert console_errors == []


def test_a_node_without_reports_shows_empty_states(logged_in_page, console_errors):
    NodeFactory(hostname="quiet.example.net", role=NodeRole.REDIS)
    page = logged_in_page
    page.goto("/nodes/quiet.example.net/")
    expect(page.locator('[data-empty="resources"]')).to_have_text("The agent sent no reports in this range.")
    expect(page.locator(".js-plotly-plot")).to_have_count(0)
    expect(page.locator('[data-tab-link="ips"]')).to_have_count(0)
    assert console_errors == []
