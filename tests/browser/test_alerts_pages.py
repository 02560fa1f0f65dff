"""In a real browser: active alerts arriving live over the websocket, ack and silence buttons,
history, a rule's preview, a channel's test-send and silences."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.alerts.models import Rule
from apps.alerts.services import evaluation_run
from tests.alerts.factories import ChannelFactory, RuleFactory, report
from tests.nodes.factories import NodeFactory

from .conftest import off_the_browser_thread

pytestmark = pytest.mark.browser


def _hot_node_round() -> None:
    def work():
        Rule.objects.exclude(name="cpu hot").delete()
        report(NodeFactory(hostname="mx1.example.net"), timezone.now(), cpu_percent=97)
        evaluation_run()

    off_the_browser_thread(work)


def test_a_firing_alert_appears_live_and_is_acknowledged_and_silenced(logged_in_page):
    off_the_browser_thread(lambda: RuleFactory(name="cpu hot", for_seconds=0, severity="critical"))
    page = logged_in_page
    page.goto("/alerts/")
    expect(page.get_by_role("heading", name="Active alerts")).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("Nothing is firing")
    expect(page.locator("#live-status.on")).to_be_visible()
    _hot_node_round()
    row = page.locator("#alerts-table tr.alert-row")
    expect(row).to_have_count(1)  # arrived over the websocket, no reload
    expect(row).to_contain_text("mx1.example.net")
    expect(row.locator(".badge.sev-critical")).to_be_visible()
    expect(page.locator("#alerts-firing-badge")).to_have_text("1")
    row.get_by_role("button", name="Acknowledge").click()
    expect(row.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(row).to_contain_text("browser-admin")
    row.get_by_role("button", name="Silence 2 h").click()
    page.get_by_role("link", name="Silences").click()
    expect(page.locator("#silences-table")).to_contain_text("subject=node:mx1.example.net")
    page.get_by_role("link", name="History").click()
    expect(page.locator("#history-table")).to_contain_text("cpu hot")


def test_rule_preview_and_channel_test_send(logged_in_page):
    off_the_browser_thread(lambda: RuleFactory(name="queue", source="node.queue", threshold=1000))
    off_the_browser_thread(lambda: ChannelFactory(name="ops hook"))
    page = logged_in_page
    page.goto("/alerts/rules/")
    page.locator("#rules-table tr", has_text="queue").get_by_role("button", name="Preview").click()
    expect(page.locator("[data-preview]")).to_contain_text("No current data")
    page.get_by_role("link", name="Channels").click()
    page.locator("#channels-table tr", has_text="ops hook").get_by_role("button", name="Send test").click()
    expect(page.locator("[data-message]")).to_contain_text("queued")
