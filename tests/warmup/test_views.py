"""Warmup pages: overview, mailbox detail, CSV import; own mailboxes only; bounded queries."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.warmup.charts import daily_chart, throughput_chart
from apps.warmup.models import WarmupDay, WarmupMailbox, WarmupSend

from .factories import PASSWORD, MailboxFactory
from .test_api import CSV

pytestmark = pytest.mark.django_db


def send_row(mailbox, outcome="sent", **fields):
    return WarmupSend.objects.create(time=timezone.now(), mailbox=mailbox, owner_user_id=mailbox.owner_id,
                                     recipient="x@y.example.test", outcome=outcome, **fields)


def test_the_overview_shows_completion_sent_failed_behind_and_the_chart(operator_client):
    box = MailboxFactory(owner=operator_client.user)
    WarmupDay.objects.create(mailbox=box, day=timezone.now().date(), target=30, sent=3, failed=1)
    send_row(box)
    other = MailboxFactory(address="someone-else@z.example.test")
    page = operator_client.get("/warmup/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-metric="sent">3<' in html and 'data-metric="failed">1<' in html
    assert 'id="fig-warmup-throughput"' in html
    assert box.address in html and other.address not in html
    assert "Not built yet" not in html and PASSWORD not in html


def test_an_empty_overview_says_so(operator_client):
    html = operator_client.get("/warmup/").content.decode()
    assert "No warmup sends in the last 24 hours." in html
    assert "No warmup mailboxes yet" in html


def test_the_overview_query_count_does_not_grow_with_mailboxes(operator_client):
    MailboxFactory.create_batch(3, owner=operator_client.user)
    operator_client.get("/warmup/")  # first visit: session and the engine row
    with CaptureQueriesContext(connection) as few:
        operator_client.get("/warmup/")
    MailboxFactory.create_batch(30, owner=operator_client.user)
    with CaptureQueriesContext(connection) as many:
        operator_client.get("/warmup/")
    assert len(many) == len(few)


def test_the_mailbox_page_shows_the_reasons_errors_and_sends(operator_client):
    box = MailboxFactory(owner=operator_client.user, status="paused",
                        status_reason="SMTP authentication failed: 535 5.7.8 nope", imap_host="127.0.0.1",
                        imap_port=1143, imap_security="none", imap_checked_at=timezone.now(),
                        imap_error="IMAP login to 127.0.0.1:1143 failed: [AUTHENTICATIONFAILED] Authentication failed.")
    send_row(box, outcome="auth_failed", smtp_code=535, smtp_response="5.7.8 nope")
    WarmupDay.objects.create(mailbox=box, day=timezone.now().date(), target=30, sent=2, failed=1)
    html = operator_client.get(f"/warmup/mailboxes/{box.pk}/").content.decode()
    assert "SMTP authentication failed: 535" in html and "Authentication failed" in html
    assert "IMAP login to 127.0.0.1:1143 failed: [AUTHENTICATIONFAILED]" in html
    assert 'id="fig-warmup-daily"' in html and PASSWORD not in html
    assert operator_client.get(f"/warmup/mailboxes/{MailboxFactory().pk}/").status_code == 404


def test_the_import_page_creates_valid_rows_and_reports_the_rest(operator_client):
    assert operator_client.get("/warmup/import/").status_code == 200
    upload = SimpleUploadedFile("boxes.csv", CSV.encode(), content_type="text/csv")
    page = operator_client.post("/warmup/import/", {"file": upload})
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong data-created>2</strong> of 5 rows created" in html
    assert "only allowed for loopback hosts" in html
    assert WarmupMailbox.objects.count() == 2
    assert operator_client.post("/warmup/import/", {}).status_code == 400


def test_viewers_see_pages_but_may_not_import(viewer_client):
    assert viewer_client.get("/warmup/").status_code == 200
    assert viewer_client.get("/warmup/import/").status_code == 403


def test_charts_have_honest_empty_states():
    assert throughput_chart([{"hour": "2026-12-01T10:00:00+00:00", "sent": 0, "failed": 0}]).figure is None
    chart = throughput_chart([{"hour": "2026-12-01T10:00:00+00:00", "sent": 4, "failed": 1}])
    assert chart.trace_names == ["sent", "failed"]
    assert daily_chart([{"day": "2026-12-01", "quota": 30, "sent": 0, "failed": 0}]).figure is None
    assert daily_chart([{"day": "2026-12-01", "quota": 30, "sent": 3, "failed": 0}]).trace_names == \
        ["sent", "failed", "quota"]


def test_the_admin_never_shows_a_stored_password_and_keeps_it_when_left_empty(admin_role_client):
    box = MailboxFactory()
    page = admin_role_client.get(f"/admin/warmup/warmupmailbox/{box.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert PASSWORD not in html and 'name="password"' in html
    form = page.context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items()
            if name in form.fields and not isinstance(value, list)}
    data.update(owner=box.owner_id, address=box.address, daily_target=45, password="", imap_password="",
                sending_ip="", imap_port="", started_on=box.started_on.isoformat(), enabled="on")
    response = admin_role_client.post(f"/admin/warmup/warmupmailbox/{box.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    box.refresh_from_db()
    assert (box.daily_target, box.password) == (45, PASSWORD)
