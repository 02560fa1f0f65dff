"""Issue 8 in the browser: exact drill-downs, event search, and pages at 390 px."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from apps.events.rollups import rollups_refresh
from tests.events.factories import event, store_events
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.browser
MESSAGE_ID = "<20261201.abc123@shop.example>"


@pytest.fixture
def bounces(transactional_db):
    """550 5.1.1 and 550 5.7.1 bounces, and one message tried three times."""
    now = dt.datetime.now(dt.UTC)
    mx = NodeFactory(hostname="mta-out-1.example.net")
    t = now - dt.timedelta(minutes=20)
    rows = [event(time=t, node_id=mx.pk, type="bounced", status_code=550, enhanced_status="5.1.1",
                  bounce_category="invalid_recipient", recipient=f"gone{i}@example.org",
                  response="550 5.1.1 User unknown") for i in range(3)]
    rows += [event(time=t, node_id=mx.pk, type="bounced", status_code=550, enhanced_status="5.7.1",
                   bounce_category="spam_block", recipient=f"blocked{i}@example.org",
                   response="550 5.7.1 Client host blocked") for i in range(2)]
    bob = {"node_id": mx.pk, "message_id": MESSAGE_ID, "recipient": "bob.smith@example.net",
           "recipient_domain": "example.net"}
    rows += [event(time=t + dt.timedelta(minutes=1), type="deferred", status_code=450, enhanced_status="4.2.0",
                   bounce_category="greylisted", response="450 4.2.0 Greylisted", **bob),
             event(time=t + dt.timedelta(minutes=7), response="250 2.0.0 Ok: queued as 7XQ9", **bob)]
    rows += [event(time=t, node_id=mx.pk, recipient=f"u{i}@gmail.com") for i in range(10)]
    store_events(rows)
    rollups_refresh()


def test_a_drill_down_from_550_5_7_1_lists_only_5_7_1_events(logged_in_page, bounces):
    page = logged_in_page
    page.goto("/events/bounces/?range=1h")
    page.locator("#bounce-codes").get_by_role("link", name="5.7.1").click()
    page.wait_for_url("**/events/search/**code=550+5.7.1*")
    rows = page.locator("#event-rows tbody tr")
    expect(rows).to_have_count(2)
    for text in rows.all_inner_texts():
        assert "5.7.1" in text and "5.1.1" not in text


def test_clicking_a_chart_bar_drills_down(logged_in_page, bounces):
    page = logged_in_page
    page.goto("/events/bounces/?range=1h")
    bars = page.locator("#chart-bounce-codes .bars .point path")
    expect(bars.first).to_be_visible()
    labels = page.locator("#chart-bounce-codes .xtick text").all_text_contents()
    target = labels.index("550 5.7.1")
    bars.nth(target).click(force=True)
    page.wait_for_url("**/events/search/**code=550+5.7.1*")
    expect(page.locator("#event-rows tbody tr")).to_have_count(2)


@pytest.mark.parametrize("q", ["bob.smith@example.net", MESSAGE_ID])
def test_search_finds_the_message_and_opens_all_its_events(logged_in_page, bounces, q):
    page = logged_in_page
    page.goto("/events/search/")
    box = page.get_by_label("search")
    box.fill(q)
    box.press("Enter")
    page.wait_for_url("**q=*")
    rows = page.locator("#event-rows tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#search-kind")).to_be_visible()
    rows.first.locator("a.event-link").click()
    page.wait_for_url("**/events/event/**")
    expect(page.locator("#message-events tbody tr")).to_have_count(2)
    expect(page.locator("#message-events")).to_contain_text("Greylisted")


PHONE_PAGES = ["/", "/events/", "/events/performance/", "/events/queue/", "/events/bounces/",
               "/events/destinations/", "/events/search/?q=example.net", "/dnsbl/"]


def test_at_390_px_no_page_scrolls_sideways_except_inside_a_table(logged_in_page, bounces):
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    for path in PHONE_PAGES:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide at 390 px"
    page.goto("/events/search/?q=example.net")
    page.locator("a.event-link").first.click()
    page.wait_for_url("**/events/event/**")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    table = page.locator("#message-events")  # the table scrolls inside itself
    assert table.evaluate("t => getComputedStyle(t).overflowX") == "auto"
