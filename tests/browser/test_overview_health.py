"""In a real browser: the overview shows the demo's throttling incident as not healthy, with the reason."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playwright.sync_api import expect

from apps.demo.management.commands.simulate_traffic import fleet_from_db
from apps.demo.services import demo_fleet_load
from apps.demo.simulator import Incident, Traffic
from apps.events.services import inbox_drain, ingest_batch_create, ingest_prepare
from apps.events.wire import parse_batch
from apps.nodes.services import node_metric_record

from .conftest import off_the_browser_thread

pytestmark = pytest.mark.browser


def _store(events: list[dict]) -> None:
    for i in range(0, len(events), 2000):
        body = json.dumps(events[i : i + 2000]).encode()
        ingest_batch_create(batch=ingest_prepare(events=parse_batch(body).events))
    inbox_drain()


def _throttled_demo() -> tuple[str, set[str]]:
    """The demo fleet, 40 minutes of its traffic with Gmail throttling one MTA for the last 17,
    stored through the ingest path; the MTA's queue reported before and after."""
    demo_fleet_load()
    fleet = fleet_from_db()
    node = next(n for n in fleet.outbound if any(a.pool for a in n.ips))
    now = dt.datetime.now(dt.UTC).timestamp()
    incident = Incident("throttle", now - 17 * 60, now + 600, node=node.hostname, provider="gmail")
    traffic = Traffic(fleet=fleet, seed=7, rate=12.0, start=now - 40 * 60, incidents=[incident])
    _store(traffic.advance(now - 16 * 60))
    before = traffic.queue[node.hostname]
    node_metric_record(hostname=node.hostname, time=dt.datetime.fromtimestamp(now - 16 * 60, dt.UTC),
                       queue_size=before, cpu_percent=20.0, memory_percent=40.0)
    events = traffic.advance(now - 1)
    _store(events)
    node_metric_record(hostname=node.hostname, time=dt.datetime.fromtimestamp(now - 2, dt.UTC),
                       queue_size=traffic.queue[node.hostname], cpu_percent=25.0, memory_percent=41.0)
    throttled_ips = {e["sending_ip"] for e in events if e["type"] == "deferred" and e["node"] == node.hostname
                     and "4.7.28" in e.get("response", "")}  # fmt: skip
    return node.hostname, throttled_ips


def test_the_throttling_incident_shows_the_mta_and_its_ips_as_not_healthy(logged_in_page):
    hostname, ips = off_the_browser_thread(_throttled_demo)
    page = logged_in_page
    page.goto("/")
    mta = page.locator(f'#attention li[data-kind="mta"][data-subject="{hostname}"]')
    expect(mta).to_be_visible()
    expect(mta).to_contain_text("of gmail.com deferred 4.7.28 in 15 min")
    expect(mta).to_contain_text("queue")
    flagged_ips = page.locator('#attention li[data-kind="ip"]')
    expect(flagged_ips.first).to_contain_text("deferred in 15 min (4.7.28)")
    assert {flagged_ips.nth(i).get_attribute("data-subject") for i in range(flagged_ips.count())} & ips
    card = page.locator(f'.node-card[data-node="{hostname}"]')
    expect(card).not_to_have_attribute("data-health", "ok")
    expect(card.locator(".reason")).to_contain_text("gmail.com")
    expect(card).to_have_attribute("href", f"/nodes/{hostname}/")
    # the per-IP table ranks one of the throttled addresses among the not healthy ones
    page.goto("/ips/health/")
    first = page.locator("#ip-health-table tbody tr").first
    expect(first).not_to_have_class("health-ok")


def test_the_overview_fits_a_390_px_phone(logged_in_page):
    off_the_browser_thread(_throttled_demo)
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.locator("#attention li").first).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the overview is {width} px wide at 390 px"
    card = page.locator(".node-card").first
    assert card.bounding_box()["width"] <= 390
