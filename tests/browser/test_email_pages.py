"""The email pages in a real browser: charts drawn, no console errors, htmx picker, live counters."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from playwright.sync_api import expect

from apps.core.live import broadcast
from apps.events.rollups import rollups_refresh
from apps.events.services import inbox_drain, ingest_batch_create, ingest_prepare
from apps.events.wire import parse_batch
from apps.nodes.models import NodeMetric
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

from .conftest import off_the_browser_thread

pytestmark = pytest.mark.browser

CHART_PAGES = {
    "/events/": ["#chart-throughput", "#chart-per-node"],
    "/events/performance/": ["#chart-percentiles", "#chart-delivery-time", "#chart-histogram"],
    "/events/queue/": ["#chart-queue"],
    "/events/bounces/": ["#chart-bounce-categories", "#chart-bounce-codes"],
    "/events/destinations/": ["#chart-destinations"],
}


@pytest.fixture
def traffic(transactional_db):
    """Twenty minutes ago: deliveries on two nodes, a bounce, a deferral, and a queue report."""
    now = dt.datetime.now(dt.UTC)
    mx1, mx2 = NodeFactory(hostname="mx1.example.net"), NodeFactory(hostname="mx2.example.net")
    t = now - dt.timedelta(minutes=20)
    rows = [event(time=t, node_id=mx1.pk, delay_ms=900) for _ in range(5)]
    rows += [event(time=t, node_id=mx2.pk, delay_ms=4000, recipient_domain="yahoo.com") for _ in range(3)]
    rows += [event(time=t, node_id=mx2.pk, type="bounced", status_code=550, enhanced_status="5.1.1",
                   bounce_category="invalid_recipient", recipient="gone@yahoo.com", recipient_domain="yahoo.com",
                   response="550-5.1.1 The email account that you tried to reach does not exist")]
    rows += [event(time=t, node_id=mx1.pk, type="deferred", status_code=421, enhanced_status="4.7.28",
                   bounce_category="rate_limited", response="421-4.7.28 unusual rate of unsolicited mail")]
    store_events(rows)
    rollups_refresh()  # what beat does every 30 s: hourly and daily rollups for the 6 h+ ranges
    NodeMetric.objects.create(node=mx1, time=now - dt.timedelta(minutes=30), queue_size=12)
    NodeMetric.objects.create(node=mx1, time=now - dt.timedelta(minutes=1), queue_size=30)
    return {"mx1": mx1, "mx2": mx2}


@pytest.fixture
def console_errors(logged_in_page):
    """Console errors and uncaught exceptions of the page (the missing favicon is not ours to judge)."""
    errors: list[str] = []
    logged_in_page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    logged_in_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    logged_in_page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def test_each_page_draws_its_plotly_charts_without_console_errors(logged_in_page, console_errors, traffic):
    page = logged_in_page
    for path, charts in CHART_PAGES.items():  # one browser context: plotly.min.js is fetched once
        page.goto(path + "?range=1h")
        for selector in charts:
            expect(page.locator(f"{selector}.js-plotly-plot .main-svg").first).to_be_visible()
        assert page.evaluate("typeof Plotly") == "object", path
        assert console_errors == [], path


def test_an_empty_range_shows_empty_states_and_no_chart(logged_in_page, console_errors):
    page = logged_in_page
    page.goto("/events/?range=1h")
    expect(page.locator('[data-empty="throughput"]')).to_have_text("No events in this range.")
    expect(page.locator(".js-plotly-plot")).to_have_count(0)
    assert console_errors == []


def test_the_picker_rerenders_through_htmx_and_keeps_the_state_in_the_url(
    logged_in_page, console_errors, traffic, live_url
):
    page = logged_in_page
    page.goto("/events/?range=6h")
    expect(page.locator("#chart-throughput.js-plotly-plot")).to_be_visible()
    page.evaluate("window.__notReloaded = true")
    page.get_by_text("1 h", exact=True).click()
    # a relative range stays relative in the URL: no from/to, no empty filters
    page.wait_for_url(live_url + "/events/?range=1h")
    expect(page.locator('input[name="range"][value="1h"]')).to_be_checked()
    expect(page.locator("#chart-throughput.js-plotly-plot .main-svg").first).to_be_visible()
    page.locator('select[name="node"]').select_option(label="mx2.example.net")
    page.wait_for_url(live_url + f"/events/?range=1h&node={traffic['mx2'].pk}")
    expect(page.locator('[data-counter="delivered"]')).to_have_text("3")
    assert page.evaluate("window.__notReloaded") is True  # swapped in place, no page load

    page.go_back()  # htmx restores the previous state; its charts are drawn again
    page.wait_for_url(live_url + "/events/?range=1h")
    expect(page.locator('[data-counter="delivered"]')).to_have_text("8")
    expect(page.locator("#chart-throughput.js-plotly-plot .main-svg").first).to_be_visible()
    assert page.locator("#chart-throughput .main-svg").first.bounding_box()["height"] > 100
    assert console_errors == []


def test_a_bad_custom_range_shows_the_form_error(logged_in_page, console_errors):
    page = logged_in_page
    page.goto("/events/bounces/?range=custom&from=2026-11-20T10:00&to=2026-11-20T12:00")
    page.locator('input[name="to"]').fill("2026-11-20T08:00")
    page.locator('input[name="to"]').dispatch_event("change")
    expect(page.locator('[data-error-field="to"]')).to_contain_text("to: must be after from")
    expect(page.locator('input[name="to"]')).to_have_attribute("aria-invalid", "true")


def test_destinations_sort_by_header_and_drill_down_to_events(logged_in_page, console_errors, traffic):
    page = logged_in_page
    page.goto("/events/destinations/?range=1h")
    rows = page.locator("#destinations tbody tr")
    expect(rows.first).to_contain_text("gmail.com")  # 6 sent beat yahoo.com's 4
    page.locator('#destinations th a[data-sort="domain"]').click()
    page.wait_for_url("**sort=domain*")
    expect(rows.first).to_contain_text("gmail.com")
    page.locator('#destinations th a[data-sort="domain"]').click()  # the sorted column flips
    page.wait_for_url("**sort=-domain*")
    expect(rows.first).to_contain_text("yahoo.com")
    rows.first.get_by_role("link", name="yahoo.com").click()
    page.wait_for_url("**/events/search/**to_domain=yahoo.com*")
    expect(page.locator("#event-rows tbody tr")).to_have_count(4)
    assert console_errors == []


def test_bounce_category_drills_down_to_the_bounced_event(logged_in_page, traffic):
    page = logged_in_page
    page.goto("/events/bounces/?range=1h")
    page.locator("#bounce-categories").get_by_role("link", name="Invalid recipient").click()
    page.wait_for_url("**/events/search/**category=invalid_recipient*")
    rows = page.locator("#event-rows tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("gone@yahoo.com")


def _wire(n: int, kind: str) -> dict:
    return {"event_id": f"live-{kind}-{n}", "time": dt.datetime.now(dt.UTC).isoformat(), "type": kind,
            "node": "mx1.example.net", "to": f"u{n}@gmail.com", "status_code": 250 if kind == "delivered" else 550,
            "delay_ms": 1000}


def _ingest(events: list[dict]) -> int:
    """What the API and the worker do: one inbox batch, then the worker stores it and broadcasts."""
    body = json.dumps(events).encode()
    ingest_batch_create(batch=ingest_prepare(events=parse_batch(body).events))
    return inbox_drain()


def _wire_on(node: str, n: int, kind: str) -> dict:
    return {**_wire(n, kind), "event_id": f"live-{node}-{kind}-{n}", "node": node}


def _stamp(page) -> str:
    return page.locator("[data-live-stamp]").text_content()


def test_live_counters_grow_when_the_ingest_worker_stores_a_batch(logged_in_page, console_errors, traffic):
    page = logged_in_page
    page.goto("/events/?range=1h")
    expect(page.locator("#live-status")).to_have_class("live-dot on")  # the socket is open
    expect(page.locator('[data-counter="delivered"]')).to_have_text("8")
    expect(page.locator('[data-counter="bounced"]')).to_have_text("1")

    batch = [_wire(n, "delivered") for n in range(4)] + [_wire(n, "bounced") for n in range(2)]
    assert off_the_browser_thread(_ingest, batch) == 6
    # No reload: the live region was re-rendered because the worker's message arrived on the open socket.
    expect(page.locator('[data-counter="delivered"]')).to_have_text("12")
    expect(page.locator('[data-counter="bounced"]')).to_have_text("3")
    expect(page.locator("#flow-counters")).to_contain_text("75.0 %")  # percentages follow: 12 of 16 outcomes
    expect(page.locator("[data-live-stamp]")).not_to_have_text("waiting")

    stamp = _stamp(page)
    assert off_the_browser_thread(_ingest, batch) == 0  # a resent batch stores nothing ...
    off_the_browser_thread(broadcast, "events", "counters",
                           {"time": dt.datetime.now(dt.UTC).isoformat(), "counts": {"deferred": 2}})
    expect(page.locator("[data-live-stamp]")).not_to_have_text(stamp, timeout=15_000)
    # ... and a message's own counts are not trusted: the figures are the stored events'.
    expect(page.locator('[data-counter="deferred"]')).to_have_text("1")
    expect(page.locator('[data-counter="delivered"]')).to_have_text("12")
    assert console_errors == []


def test_a_filtered_flow_page_does_not_count_unfiltered_events(logged_in_page, console_errors, traffic):
    page = logged_in_page
    page.goto(f"/events/?range=1h&node={traffic['mx2'].pk}")
    expect(page.locator("#live-status")).to_have_class("live-dot on")
    expect(page.locator('[data-counter="delivered"]')).to_have_text("3")
    stamp = _stamp(page)
    off_the_browser_thread(_ingest, [_wire_on("mx1.example.net", n, "delivered") for n in range(9)])
    expect(page.locator("[data-live-stamp]")).not_to_have_text(stamp, timeout=15_000)  # it did refresh ...
    expect(page.locator('[data-counter="delivered"]')).to_have_text("3")  # ... and mx1's mail is not mx2's
    off_the_browser_thread(_ingest, [_wire_on("mx2.example.net", n, "delivered") for n in range(2)])
    expect(page.locator('[data-counter="delivered"]')).to_have_text("5", timeout=15_000)
    assert console_errors == []


def _last_bucket(page, chart: str, trace: str) -> float:
    return page.evaluate(
        """([id, name]) => { const el = document.getElementById(id);
             const t = el && el.data && el.data.find((d) => d.name === name);
             return t ? t.y[t.y.length - 1] : null; }""",
        [chart, trace],
    )


def test_a_charts_current_bucket_changes_within_20_s_of_new_events(logged_in_page, console_errors, traffic):
    page = logged_in_page
    page.goto("/events/?range=1h")
    expect(page.locator("#live-status")).to_have_class("live-dot on")
    page.wait_for_function("() => document.getElementById('chart-throughput')?.data")
    before = _last_bucket(page, "chart-throughput", "delivered") or 0
    drawn = page.locator("#chart-throughput")
    drawn.evaluate("(el) => { el.dataset.original = '1'; }")  # to see the chart is updated in place
    off_the_browser_thread(_ingest, [_wire(n, "delivered") for n in range(5)])
    page.wait_for_function(
        """([before]) => { const el = document.getElementById('chart-throughput');
             const t = el.data.find((d) => d.name === 'delivered'); return t.y[t.y.length - 1] !== before; }""",
        arg=[before], timeout=20_000,
    )
    assert _last_bucket(page, "chart-throughput", "delivered") == before + 5
    assert drawn.get_attribute("data-original") == "1"  # the same element, redrawn with Plotly.react
    assert console_errors == []


def test_the_performance_page_leads_with_percentiles_and_refreshes_live(logged_in_page, console_errors, traffic):
    page = logged_in_page
    page.goto("/events/performance/?range=1h")
    expect(page.locator('[data-time="p50"]')).not_to_have_text("—")
    expect(page.locator("#chart-percentiles")).to_be_visible()
    expect(page.locator("#chart-delivery-time")).to_be_visible()
    stamp = _stamp(page)
    off_the_browser_thread(_ingest, [_wire(n, "delivered") for n in range(3)])
    expect(page.locator("[data-live-stamp]")).not_to_have_text(stamp, timeout=15_000)
    assert console_errors == []


def test_a_custom_range_does_not_count_live_batches(logged_in_page, traffic):
    page = logged_in_page
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    end = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M")
    page.goto(f"/events/?range=custom&from={start}&to={end}")
    expect(page.locator("#live-status")).to_have_class("live-dot on")
    before = page.locator('[data-counter="delivered"]').text_content()
    off_the_browser_thread(broadcast, "events", "counters",
                           {"time": dt.datetime.now(dt.UTC).isoformat(), "counts": {"delivered": 5}})
    page.wait_for_timeout(500)
    expect(page.locator('[data-counter="delivered"]')).to_have_text(before)
