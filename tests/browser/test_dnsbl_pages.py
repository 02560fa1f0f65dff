"""In a real browser: the blacklist overview, an IP's history timeline, zone health, and
"check now" run by a real Celery worker against the loopback DNS server, with live progress."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from apps.dnsbl.services import dnsbl_round_run
from apps.ips.models import SendingIP
from tests.core import processes
from tests.dnsbl.conftest import dns_server, zones  # noqa: F401 - fixtures
from tests.dnsbl.dns_server import listed
from tests.ips.factories import SendingIPFactory

from .conftest import off_the_browser_thread

pytestmark = pytest.mark.browser


def _round(*addresses: str) -> None:
    off_the_browser_thread(lambda: dnsbl_round_run(ips=list(SendingIP.objects.filter(address__in=addresses))))


def test_the_overview_says_so_when_nothing_is_listed(logged_in_page):
    page = logged_in_page
    page.get_by_role("link", name="Reputation").click()
    expect(page.get_by_role("heading", name="Blacklist overview")).to_be_visible()
    expect(page.locator('[data-empty="listings"]')).to_have_text("No sending IP or domain is listed on any zone.")
    expect(page.locator('[data-empty="dnsbl-trend"]')).to_have_text("No checks recorded yet.")


def test_the_overview_shows_listings_charts_and_the_ip_timeline(logged_in_page, zones, dns_server):  # noqa: F811
    SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="198.51.100.8")
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.4", txt="https://example.test/lookup")
    _round("198.51.100.7", "198.51.100.8")
    page = logged_in_page
    page.goto("/dnsbl/")
    rows = page.locator("#listing-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("198.51.100.7")
    expect(rows).to_contain_text("XBL")
    expect(page.locator("#chart-dnsbl-by-zone .main-svg").first).to_be_visible()  # Plotly drew it
    expect(page.locator("#chart-dnsbl-trend .main-svg").first).to_be_visible()
    page.get_by_role("link", name="198.51.100.7").click()
    expect(page.get_by_role("heading", name="198.51.100.7")).to_be_visible()
    expect(page.locator("#chart-dnsbl-timeline .main-svg").first).to_be_visible()
    expect(page.locator("#history-table")).to_contain_text("127.0.0.4")
    page.get_by_role("link", name="Zone health").click()
    expect(page.locator("#zone-table tr", has_text="broken.test")).to_contain_text("Failing its canary")


def test_check_now_runs_on_a_worker_and_shows_live_progress(logged_in_page, zones, dns_server, tmp_path):  # noqa: F811
    SendingIPFactory(address="198.51.100.9")
    dns_server.records["9.100.51.198.zen.test"] = listed("127.0.0.2")
    worker = processes.start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "info", "--concurrency", "1", "-n", "dnsbl-browser@%h",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        tmp_path / "worker.log", MAILMON_DNS_RESOLVERS=dns_server.address, MAILMON_DNSBL_ZONE_QPS="0",
    )
    try:
        page = logged_in_page
        page.goto("/dnsbl/")
        expect(page.locator("#live-status")).to_have_class("live-dot on")
        page.get_by_label("IP to check").fill("198.51.100.9")
        page.get_by_role("button", name="Check IP").click()
        expect(page.locator("#dnsbl-run")).to_contain_text("Checking 1 IP")
        expect(page.locator("#dnsbl-run [data-progress]")).to_have_text("1 / 1", timeout=60_000)
        expect(page.locator("#dnsbl-run")).to_contain_text("done")
        expect(page.locator("#listing-table")).to_contain_text("198.51.100.9")  # refreshed without a reload
    finally:
        processes.stop(worker)


def test_check_now_with_an_unknown_ip_shows_the_error(logged_in_page):
    page = logged_in_page
    page.goto("/dnsbl/")
    page.get_by_label("IP to check").fill("192.0.2.250")
    page.get_by_role("button", name="Check IP").click()
    expect(page.get_by_role("alert")).to_contain_text("ip: not a sending IP: 192.0.2.250")
