"""In a real browser: the warmup overview (tiles, chart, behind list), a mailbox, the CSV import."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.warmup.models import WarmupDay, WarmupSend
from tests.warmup.factories import PASSWORD, MailboxFactory

pytestmark = pytest.mark.browser


def test_the_warmup_overview_shows_progress_the_chart_and_who_is_behind(logged_in_page, admin_user):
    now = timezone.now()
    behind = MailboxFactory(owner=admin_user, address="late@corp.example.test", daily_target=96)
    on_pace = MailboxFactory(owner=admin_user, address="fine@corp.example.test")
    elapsed = (now - dt.datetime.combine(now.date(), dt.time.min, tzinfo=dt.UTC)).total_seconds() / 86400
    WarmupDay.objects.create(mailbox=on_pace, day=now.date(), target=30, sent=30, failed=1)
    WarmupDay.objects.create(mailbox=behind, day=now.date(), target=96, sent=0)
    for minutes in (5, 65):
        WarmupSend.objects.create(time=now - dt.timedelta(minutes=minutes), mailbox=on_pace,
                                  owner_user_id=admin_user.pk, recipient=behind.address, outcome="sent")
    logged_in_page.get_by_role("link", name="Warmup").click()
    expect(logged_in_page.get_by_role("heading", name="Mailbox warmup")).to_be_visible()
    expect(logged_in_page.locator('[data-metric="sent"]')).to_have_text("30")
    expect(logged_in_page.locator('[data-metric="failed"]')).to_have_text("1")
    expect(logged_in_page.locator("#chart-warmup-throughput .main-svg").first).to_be_visible()
    behind_table = logged_in_page.locator('[data-table="behind"]')
    if elapsed * 96 * 0.9 >= 1:  # past ~00:15 UTC something is due: the empty mailbox is behind
        expect(behind_table).to_contain_text("late@corp.example.test")
    expect(behind_table).not_to_contain_text("fine@corp.example.test")
    expect(logged_in_page.locator("body")).not_to_contain_text(PASSWORD)

    logged_in_page.locator('[data-table="all"]').get_by_role("link", name="fine@corp.example.test").click()
    expect(logged_in_page.get_by_role("heading", name="fine@corp.example.test")).to_be_visible()
    expect(logged_in_page.locator("#chart-warmup-daily .main-svg").first).to_be_visible()


def test_a_csv_import_shows_its_validation_report(logged_in_page, tmp_path):
    csv = tmp_path / "boxes.csv"
    csv.write_text(
        "address,smtp_host,smtp_port,smtp_security,username,password,daily_target,enabled\n"
        "ok@corp.example.test,127.0.0.1,2525,none,ok,pw,30,true\n"
        "bad@corp.example.test,smtp.example.com,587,none,bad,pw,30,true\n"
    )
    logged_in_page.goto("/warmup/import/")
    logged_in_page.locator('input[name="file"]').set_input_files(str(csv))
    logged_in_page.get_by_role("button", name="Import").click()
    report = logged_in_page.locator("#import-report")
    expect(report.locator("[data-created]")).to_have_text("1")
    expect(report).to_contain_text("smtp_security")
    expect(report).to_contain_text("only allowed for loopback hosts")
