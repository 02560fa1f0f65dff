"""Warmup API: mailboxes (own only, password write-only), CSV import, control, metrics, quota."""

from __future__ import annotations

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from apps.core.models import AuditLog
from apps.warmup.models import WarmupDay, WarmupEngine, WarmupMailbox
from apps.warmup.models import today as utc_today
from apps.warmup.selectors import METRIC_HELP

from .factories import PASSWORD, MailboxFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/warmup/mailboxes"


def payload(**extra) -> dict:
    return {"address": "new@corp.example.test", "smtp_host": "127.0.0.1", "smtp_port": 2525,
            "smtp_security": "none", "username": "new@corp.example.test", "password": PASSWORD,
            "daily_target": 40, "enabled": True, **extra}


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_an_operator_registers_a_mailbox_and_never_sees_its_password_again(operator_client, caplog):
    with caplog.at_level(logging.DEBUG):
        response = post(operator_client, URL, payload())
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["password_set"] is True and "password" not in body
    assert body["owner"] == operator_client.user.username
    assert body["provider"] == "corp.example.test"  # special-use domain: no DNS lookup
    assert PASSWORD not in response.content.decode()
    listed = operator_client.get(URL)
    detail = operator_client.get(f"{URL}/{body['id']}")
    assert PASSWORD not in listed.content.decode() + detail.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(m)::text FROM warmup_warmupmailbox m")
        assert PASSWORD not in cursor.fetchone()[0]
    audit = "".join(str(a.after) + str(a.before) for a in AuditLog.objects.all())
    assert PASSWORD not in audit and "********" in audit
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"smtp_security": "none", "smtp_host": "smtp.example.com"}, "smtp_security"),
        ({"daily_target": 29}, "daily_target"),
        ({"smtp_port": 70000}, "smtp_port"),
        ({"address": "not-an-address"}, "address"),
        ({"smtp_security": "ssl"}, "smtp_security"),
        ({"password": ""}, "password"),
    ],
)
def test_bad_mailboxes_are_refused_naming_the_field(operator_client, change, field):
    response = post(operator_client, URL, payload(**change))
    assert response.status_code == 400
    assert field in response.json()
    assert not WarmupMailbox.objects.exists()


def test_put_keeps_the_password_unless_a_new_one_is_given(operator_client):
    mailbox = MailboxFactory(owner=operator_client.user)
    url = f"{URL}/{mailbox.pk}"
    response = operator_client.put(url, json.dumps({"daily_target": 50, "password": ""}),
                                   content_type="application/json")
    assert response.status_code == 200, response.content
    mailbox.refresh_from_db()
    assert (mailbox.daily_target, mailbox.password) == (50, PASSWORD)
    operator_client.put(url, json.dumps({"password": "new-one"}), content_type="application/json")
    mailbox.refresh_from_db()
    assert mailbox.password == "new-one"


def test_users_see_only_their_own_mailboxes_and_admins_all(operator_client, admin_role_client):
    mine = MailboxFactory(owner=operator_client.user)
    theirs = MailboxFactory()
    assert [m["id"] for m in operator_client.get(URL).json()["results"]] == [mine.pk]
    assert operator_client.get(f"{URL}/{theirs.pk}").status_code == 404
    assert operator_client.get(f"/api/v1/warmup/mailbox?id={theirs.pk}").status_code == 404
    assert {m["id"] for m in admin_role_client.get(URL).json()["results"]} == {mine.pk, theirs.pk}
    assert admin_role_client.delete(f"{URL}/{theirs.pk}").status_code == 204
    assert not WarmupMailbox.objects.filter(pk=theirs.pk).exists()


def test_viewers_may_not_register_mailboxes(viewer_client):
    assert post(viewer_client, URL, payload()).status_code == 403


CSV = (
    "address,smtp_host,smtp_port,smtp_security,username,password,daily_target,enabled\n"
    "a@x.example.test,127.0.0.1,2525,none,a,pw-a,30,true\n"
    "b@x.example.test,smtp.example.com,587,none,b,pw-b,30,true\n"
    "c@x.example.test,127.0.0.1,notaport,none,c,pw-c,30,true\n"
    "d@x.example.test,127.0.0.1,2525,none,d,pw-d,10,yes\n"
    "e@x.example.test,127.0.0.1,2525,none,e,pw-e,35,no\n"
)


def test_csv_import_creates_valid_rows_and_reports_the_others_by_line_and_field(operator_client):
    upload = SimpleUploadedFile("boxes.csv", CSV.encode(), content_type="text/csv")
    response = operator_client.post(f"{URL}/import", {"file": upload})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == ["a@x.example.test", "e@x.example.test"]
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(3, "smtp_security"), (4, "smtp_port"),
                                                                  (5, "daily_target")]
    assert WarmupMailbox.objects.get(address="e@x.example.test").enabled is False
    assert WarmupMailbox.objects.get(address="a@x.example.test").password == "pw-a"


def test_csv_import_takes_a_text_body_and_a_dry_run_creates_nothing(operator_client):
    response = operator_client.post(f"{URL}/import?dry_run=1", CSV, content_type="text/csv")
    assert response.status_code == 400  # errors reported, nothing created
    assert len(response.json()["created"]) == 2 and not WarmupMailbox.objects.exists()
    bad = operator_client.post(f"{URL}/import", "address\nx@y.example.test\n", content_type="text/csv")
    assert bad.status_code == 400 and "smtp_host" in bad.json()["errors"][0]["field"]


def test_control_is_admin_only_and_starts_stops_and_triggers(operator_client, admin_role_client,
                                                             django_capture_on_commit_callbacks):
    url = "/api/v1/warmup/control"
    assert operator_client.get(url).status_code == 403
    assert post(operator_client, url, {"action": "stop"}).status_code == 403
    assert post(admin_role_client, url, {"action": "stop"}).json()["running"] is False
    assert WarmupEngine.load().running is False
    assert admin_role_client.get(url).json()["running"] is False
    assert post(admin_role_client, url, {"action": "start"}).json()["running"] is True
    assert post(admin_role_client, url, {"action": "explode"}).status_code == 400
    with django_capture_on_commit_callbacks() as callbacks:
        assert post(admin_role_client, url, {"action": "trigger"}).json()["triggered"] is True
    assert len(callbacks) == 1


def test_metrics_in_json_and_prometheus_with_the_issue_names(operator_client):
    box = MailboxFactory(owner=operator_client.user, daily_target=40)
    WarmupDay.objects.create(mailbox=box, day=utc_today(), target=40, planned=12, sent=10, failed=2)
    MailboxFactory()  # someone else's: not counted
    body = operator_client.get("/api/v1/warmup/metrics").json()
    assert set(body) == set(METRIC_HELP)
    assert body["warmup_total_mailboxes"] == 1 and body["warmup_emails_sent_today"] == 10
    assert body["warmup_emails_failed_today"] == 2 and body["warmup_quota_completion_rate"] == 0.25
    assert body["warmup_mailbox_quota_fill"] == [{"id": box.pk, "mailbox": box.address, "fill": 0.25}]
    text = operator_client.get("/api/v1/warmup/metrics?format=prometheus")
    assert text.status_code == 200 and text["Content-Type"].startswith("text/plain")
    lines = text.content.decode().splitlines()
    for name in METRIC_HELP:
        assert f"# TYPE {name} gauge" in lines
    assert "warmup_emails_sent_today 10" in lines
    assert f'warmup_mailbox_quota_fill{{mailbox="{box.address}",id="{box.pk}"}} 0.25' in lines


def test_quota_lists_mailboxes_behind_their_pace(operator_client, monkeypatch):
    import datetime as dt

    from apps.warmup import selectors

    noon = dt.datetime.combine(utc_today(), dt.time(12), tzinfo=dt.UTC)
    monkeypatch.setattr(selectors.timezone, "now", lambda: noon)
    behind, on_pace = MailboxFactory.create_batch(2, owner=operator_client.user, daily_target=40)
    WarmupDay.objects.create(mailbox=behind, day=noon.date(), sent=5)
    WarmupDay.objects.create(mailbox=on_pace, day=noon.date(), sent=20)
    rows = operator_client.get("/api/v1/warmup/quota").json()["results"]
    assert {r["address"]: r["expected_by_now"] for r in rows} == {behind.address: 20, on_pace.address: 20}
    late = operator_client.get("/api/v1/warmup/quota?status=behind").json()["results"]
    assert [r["address"] for r in late] == [behind.address]
    assert operator_client.get("/api/v1/warmup/quota?status=sideways").status_code == 400
    one = operator_client.get(f"/api/v1/warmup/mailbox?id={behind.pk}").json()
    assert one["today"]["behind"] is True and one["mailbox"]["password_set"] is True
    assert len(one["history"]) == 30 and PASSWORD not in json.dumps(one)


def test_an_import_body_that_is_not_csv_is_reported_not_a_server_error(operator_client):
    response = operator_client.post(
        "/api/v1/warmup/mailboxes/import?dry_run=true", data=b"\xf2\xa0\x9a\xb0\rn\x1dz\x03", content_type="text/csv"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] in {"file", "address, smtp_host"} or response.json()["errors"]
