"""In a real browser: log in, see the fleet overview, see a live update arrive over the websocket."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.services import node_metric_record, nodes_refresh_status
from tests.nodes.factories import NodeFactory

from .conftest import ADMIN_PASSWORD, ADMIN_USERNAME, log_in, off_the_browser_thread

pytestmark = pytest.mark.browser


def test_an_anonymous_visitor_is_sent_to_the_login_form(page, live_url):
    page.goto("/")
    expect(page).to_have_url(live_url + "/accounts/login/?next=/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_wrong_password_is_refused(page, admin_user, live_url):
    log_in(page, ADMIN_USERNAME, "not the password")
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    expect(page).to_have_url(live_url + "/accounts/login/")


def test_logging_in_through_the_form_shows_the_fleet_overview(page, admin_user, live_url):
    NodeFactory(hostname="mta-out-1.example.net", role=NodeRole.ZONEMTA, status=NodeStatus.ONLINE)
    page.goto("/")
    log_in(page, ADMIN_USERNAME, ADMIN_PASSWORD)
    expect(page).to_have_url(live_url + "/")
    expect(page.get_by_role("heading", name="Fleet overview")).to_be_visible()
    expect(page.locator("#node-grid")).to_contain_text("mta-out-1.example.net")
    expect(page.locator("header")).to_contain_text(ADMIN_USERNAME)


def test_the_overview_lists_nodes_with_role_and_status(logged_in_page):
    NodeFactory(hostname="mx-in-1.example.net", role=NodeRole.HARAKA, status=NodeStatus.DEGRADED)
    NodeFactory(hostname="imap-1.example.net", role=NodeRole.WILDDUCK, status=NodeStatus.ONLINE)
    logged_in_page.reload()
    cards = logged_in_page.locator("#node-grid .node-card")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="mx-in-1.example.net")).to_contain_text("Haraka")
    expect(cards.filter(has_text="mx-in-1.example.net")).to_contain_text("Degraded")
    expect(logged_in_page.locator('[data-summary="total"]')).to_have_text("2")


def test_the_htmx_role_filter_narrows_the_table(logged_in_page):
    NodeFactory(hostname="mx-in-1.example.net", role=NodeRole.HARAKA)
    NodeFactory(hostname="redis-1.example.net", role=NodeRole.REDIS)
    logged_in_page.reload()
    logged_in_page.locator('select[name="role"]').select_option("redis")
    cards = logged_in_page.locator("#node-grid .node-card")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("redis-1.example.net")


def test_a_live_update_arrives_over_the_websocket(logged_in_page):
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    NodeFactory(hostname="quiet.example.net", status=NodeStatus.ONLINE, last_seen=an_hour_ago)
    NodeFactory(hostname="chatty.example.net", status=NodeStatus.ONLINE, last_seen=timezone.now())
    page = logged_in_page
    page.reload()
    # Health does not wait for the sweep: a node silent for an hour is offline, hence critical.
    expect(page.locator('[data-summary="critical"]')).to_have_text("1")
    expect(page.locator('#attention li[data-subject="quiet.example.net"]')).to_contain_text("offline, silent for 1 h")
    expect(page.locator("#live-status")).to_have_class("live-dot on")  # the socket is open

    # chatty's agent reports rspamd down (no broadcast of its own) ...
    off_the_browser_thread(node_metric_record, hostname="chatty.example.net", time=timezone.now(),
                           services={"rspamd": False, "zonemta": True}, queue_size=3)
    # ... then the beat task's service marks the silent node offline and broadcasts the summary.
    assert off_the_browser_thread(nodes_refresh_status) == 1

    # No reload: the page re-rendered its live regions because the message arrived on the open socket.
    expect(page.locator('[data-summary="critical"]')).to_have_text("2")
    expect(page.locator('#attention li[data-subject="chatty.example.net"]')).to_contain_text("rspamd down")
    expect(page.locator('.node-card[data-node="chatty.example.net"]')).to_have_attribute("data-health", "critical")
    expect(page.locator("#fleet-updated")).not_to_have_text("—")
