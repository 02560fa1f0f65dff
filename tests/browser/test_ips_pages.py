"""In a real browser: the IP table (filters, CIDR search, sort), a bulk pause with its confirmation,
"check PTR now" run by a real Celery worker, adding a CIDR range, the pools page and the warmup page
with its Plotly curve."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from playwright.sync_api import expect

from apps.core.dns import reverse_pointer
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP, WarmupSchedule
from apps.ips.services_warmup import ip_warmup_set
from tests.core import processes
from tests.dnsbl.conftest import dns_server  # noqa: F401 - fixture
from tests.dnsbl.dns_server import host, pointer
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def inventory(transactional_db):
    node = NodeFactory(hostname="mta-out-1")
    pool = IpPoolFactory(name="transactional", type="transactional")
    for i in range(1, 31):
        SendingIPFactory(address=f"198.51.100.{i}", node=node, pool=pool)
    SendingIPFactory(address="2001:db8::1", node=node, pool=None)
    return node, pool


def test_the_ip_table_filters_by_cidr_and_pages(logged_in_page, inventory):
    page = logged_in_page
    page.get_by_role("link", name="Sending IPs", exact=True).click()
    expect(page.get_by_role("heading", name="Sending IPs")).to_be_visible()
    expect(page.locator("#ips-pager")).to_contain_text("31 IPs")
    page.get_by_label("search").fill("198.51.100.0/29")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#ips-table tbody tr")).to_have_count(7)
    expect(page.locator("#ips-pager")).to_contain_text("7 IPs")
    page.get_by_label("version").select_option("6")
    expect(page.locator('[data-empty="ips"]')).to_be_visible()


def test_bulk_pause_states_the_count_then_pauses(logged_in_page, inventory):
    page = logged_in_page
    page.goto("/ips/?q=198.51.100.0/30")
    expect(page.locator("#ips-table tbody tr")).to_have_count(3)
    page.locator("#ips-select-page").check()
    page.get_by_label("bulk action").select_option("pause")
    page.get_by_label("reason").fill("browser test")
    page.locator("#ips-bulk-apply").click()
    expect(page.locator("#ips-bulk-confirm")).to_contain_text("3 IPs will change")
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 0
    page.locator("#ips-bulk-confirm-button").click()
    expect(page.locator("#ips-table tbody tr .badge.paused")).to_have_count(3)  # the table refreshed
    page.wait_for_load_state("networkidle")
    # ... in place: the refresh lands in the table, not over the summary (the table sits inside the bulk form)
    expect(page.locator("#ips-table")).to_have_count(1)
    expect(page.locator("#ips-bulk-summary")).to_contain_text("3 IPs set to pause")
    assert SendingIP.objects.filter(status=IpStatus.PAUSED).count() == 3


def test_adding_a_cidr_range_previews_then_adds_and_reports_errors(logged_in_page, inventory):
    page = logged_in_page
    page.goto("/ips/range/")
    page.get_by_label("cidr").fill("203.0.113.0/29")
    page.get_by_label("node").select_option(label="mta-out-1")
    page.locator("#range-preview").click()
    expect(page.locator("#range-summary")).to_contain_text("6 new addresses would be added")
    expect(page.locator("#range-summary")).to_contain_text("203.0.113.1")
    page.locator("#range-add").click()
    expect(page.locator("#range-summary")).to_contain_text("6 addresses added")
    assert SendingIP.objects.filter(address__startswith="203.0.113.").count() == 6
    page.get_by_label("cidr").fill("10.0.0.0/8")
    page.locator("#range-preview").click()
    expect(page.locator("#ips-bulk-error")).to_contain_text("cidr: 10.0.0.0/8 holds 16,777,214 addresses")


def test_the_pools_page_and_a_pools_members(logged_in_page, inventory):
    page = logged_in_page
    page.get_by_role("link", name="Pools").click()
    row = page.locator('#pools-table tr[data-pool="transactional"]')
    expect(row).to_contain_text("30")
    row.get_by_role("link", name="transactional").click()
    expect(page.locator("#pool-members tbody tr")).to_have_count(30)
    page.get_by_label("weight of 198.51.100.1", exact=True).fill("300")
    page.locator('#pool-members tr[data-ip="198.51.100.1"]').get_by_role("button", name="Save").click()
    expect(page.get_by_text("198.51.100.1: weight 300.")).to_be_visible()


def test_the_warmup_page_shows_progress_and_the_curve(logged_in_page, inventory):
    schedule = WarmupSchedule.objects.create(name="default", limits=[50, 100, 200, 400], is_default=True)
    ip = SendingIP.objects.get(address="198.51.100.5")
    ip_warmup_set(ip=ip, schedule=schedule, day=2, started_on=dt.date.today() - dt.timedelta(days=2), actor=None)
    now = dt.datetime.now(dt.UTC)
    store_events([event(time=now, node_id=inventory[0].id, sending_ip=ip.address) for _ in range(12)])
    page = logged_in_page
    page.goto("/ips/warmup/")
    row = page.locator('#warmup-table tr[data-ip="198.51.100.5"]')
    expect(row).to_contain_text("day 2 of 4")
    expect(row).to_contain_text("12 / 100")
    row.get_by_role("link", name="198.51.100.5").click()
    expect(page.locator("#chart-warmup-curve .main-svg").first).to_be_visible()  # Plotly drew it
    page.get_by_label("day", exact=True).fill("3")
    expect(page.locator("#warmup-suggested")).to_have_text("suggested: 200/day")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('#warmup-table tr[data-ip="198.51.100.5"]')).to_contain_text("day 3 of 4")


def test_check_ptr_now_runs_on_a_worker_and_flags_the_mismatch(logged_in_page, dns_server, tmp_path):  # noqa: F811
    node = NodeFactory(hostname="mta-out-1")
    for address, name, forward in (("198.51.100.1", "good.example.test", "198.51.100.1"),
                                   ("198.51.100.2", "bad.example.test", "203.0.113.9")):
        SendingIPFactory(address=address, node=node, pool=None)
        dns_server.records[reverse_pointer(address)] = pointer(name)
        dns_server.records[name] = host(forward)
    worker = processes.start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "info", "--concurrency", "1", "-n", "ptr-browser@%h",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        tmp_path / "worker.log", MAILMON_DNS_RESOLVERS=dns_server.address,
    )
    try:
        page = logged_in_page
        page.goto("/ips/")
        page.locator("#ips-select-page").check()
        page.get_by_label("bulk action").select_option("check_ptr")
        page.locator("#ips-bulk-apply").click()
        expect(page.locator("#ips-bulk-confirm")).to_contain_text("2 IPs will be checked")
        page.locator("#ips-bulk-confirm-button").click()
        expect(page.locator("#ips-bulk-summary")).to_contain_text("PTR check of 2 IPs queued")
        assert _reloaded_until(page, "ptr-mismatch"), "the worker never stored the PTR outcome"
        expect(page.locator('tr[data-ip="198.51.100.2"]')).to_contain_text("bad.example.test")
        expect(page.locator('tr[data-ip="198.51.100.1"]')).to_contain_text("good.example.test ✓")
        page.get_by_label("PTR status").select_option("mismatch")
        expect(page.locator("#ips-table tbody tr")).to_have_count(1)
    finally:
        processes.stop(worker)


def _reloaded_until(page, css_class: str, tries: int = 60) -> bool:
    """The table has no live stream for PTR outcomes: reload until the worker's answer shows."""
    for _ in range(tries):
        if page.locator(f".badge.{css_class}").count():
            return True
        time.sleep(0.5)
        page.reload()
    return False
