"""Bounce rules as data: shipped defaults in the table, real provider bounces, admin edits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from apps.events.bounce_rules import DEFAULT_RULES
from apps.events.models import BounceRule, EmailEvent
from apps.events.services import bounce_rules_cache_clear, bounce_rules_current, inbox_drain

NOW = datetime.now(UTC).replace(microsecond=0)

# Real bounce texts as Gmail, Microsoft, Yahoo, Postfix and Exim write them.
SAMPLES = [
    ("gmail-no-such-user", "bounced", 550, "5.1.1",
     "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
     "recipient's email address for typos or unnecessary spaces. For more information, go to "
     "https://support.google.com/mail/?p=NoSuchUser a1si123456qkb.12 - gsmtp", "invalid_recipient"),
    ("gmail-4.7.28", "deferred", 421, "4.7.28",
     "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP address. To "
     "protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please "
     "visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders "
     "Guidelines. a1si123456qkb.12 - gsmtp", "rate_limited"),
    ("gmail-unauthenticated", "rejected", 550, "5.7.26",
     "550-5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders "
     "to authenticate with either SPF or DKIM. - gsmtp", "policy"),
    ("gmail-over-quota", "deferred", 452, "4.2.2",
     "452-4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to "
     "https://support.google.com/mail/?p=OverQuotaTemp a1si123456qkb.12 - gsmtp", "mailbox_full"),
    ("gmail-content", "rejected", 552, "5.7.0",
     "552-5.7.0 This message was blocked because its content presents a potential security issue. Please "
     "visit https://support.google.com/mail/?p=BlockedMessage to review our message content and attachment "
     "content guidelines. a1si123456qkb.12 - gsmtp", "content"),
    ("microsoft-s3150", "rejected", 550, "5.7.1",
     "550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent. Please contact your Internet service "
     "provider since part of their network is on our block list (S3150). You can also refer your provider to "
     "http://mail.live.com/mail/troubleshooting.aspx#errors. [DM6NAM11FT012.eop-nam11.prod.protection."
     "outlook.com]", "spam_block"),
    ("yahoo-tss04", "deferred", 421, "4.7.0",
     "421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred due to unexpected volume or user "
     "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "rate_limited"),
    ("postfix-user-unknown", "bounced", None, None,
     "host mx.example.org[203.0.113.5] said: 550 5.1.1 <bob@example.org>: Recipient address rejected: User "
     "unknown in virtual mailbox table (in reply to RCPT TO command)", "invalid_recipient"),
    ("postfix-dns", "deferred", None, None,
     "Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found, "
     "try again", "dns_failure"),
    ("postfix-timeout", "deferred", None, None,
     "connect to mx.example.org[203.0.113.5]:25: Connection timed out", "connection"),
    ("exim-over-quota", "bounced", None, None,
     "SMTP error from remote mail server after RCPT TO:<bob@example.net>: 552 5.2.2 <bob@example.net>: user "
     "is over quota", "mailbox_full"),
]


def post(client, headers, events):
    return client.post("/api/v1/events/ingest", data=json.dumps(events), content_type="application/json", **headers)


def wire(n: int, kind: str, code, enhanced, response) -> dict:
    return {"event_id": f"b-{n}", "time": (NOW - timedelta(seconds=n)).isoformat(), "type": kind,
            "node": "mta-1", "to": f"u{n}@example.net", "status_code": code, "enhanced_status": enhanced,
            "response": response}


@pytest.fixture(autouse=True)
def _fresh_rules_cache():
    bounce_rules_cache_clear()
    yield
    bounce_rules_cache_clear()


@pytest.mark.django_db
def test_the_migration_loads_every_default_rule_into_the_table():
    rows = {row["name"]: row for row in BounceRule.objects.values()}
    assert set(rows) == {rule["name"] for rule in DEFAULT_RULES}
    for rule in DEFAULT_RULES:
        row = rows[rule["name"]]
        assert {key: row[key] for key in rule} == rule
        assert row["enabled"]


@pytest.mark.django_db
def test_real_provider_bounces_are_classified_through_the_api_with_the_table_rules(client, agent_headers):
    events = [wire(n, kind, code, enhanced, text) for n, (_, kind, code, enhanced, text, _) in enumerate(SAMPLES)]
    assert post(client, agent_headers, events).json()["accepted"] == len(SAMPLES)
    inbox_drain()
    stored = dict(EmailEvent.objects.values_list("event_id", "bounce_category"))
    got = {name: stored[f"b-{n}"] for n, (name, *_rest) in enumerate(SAMPLES)}
    assert got == {name: expected for name, *_middle, expected in SAMPLES}


@pytest.mark.django_db
def test_an_admin_edit_of_the_rules_applies_to_new_events(client, agent_headers, settings):
    settings.MAILMON_INGEST_RULES_REFRESH = 0  # check the table on every batch
    text = "550 5.7.1 Zorkmid filter says no"
    before = bounce_rules_current()
    BounceRule.objects.create(name="zorkmid", category="content", priority=1, response="zorkmid")
    assert bounce_rules_current() is not before
    post(client, agent_headers, [wire(1, "bounced", 550, "5.7.1", text)])
    BounceRule.objects.filter(name="zorkmid").update(enabled=False)
    post(client, agent_headers, [wire(2, "bounced", 550, "5.7.1", text)])
    inbox_drain()
    stored = dict(EmailEvent.objects.values_list("event_id", "bounce_category"))
    assert stored["b-1"] == "content"
    assert stored["b-2"] != "content"


@pytest.mark.django_db
def test_the_rules_are_cached_between_checks(settings, django_assert_num_queries):
    settings.MAILMON_INGEST_RULES_REFRESH = 3600
    first = bounce_rules_current()
    with django_assert_num_queries(0):
        assert bounce_rules_current() is first


@pytest.mark.django_db
def test_an_unchanged_table_is_not_recompiled(settings):
    settings.MAILMON_INGEST_RULES_REFRESH = 0
    first = bounce_rules_current()
    assert bounce_rules_current() is first


@pytest.mark.django_db
def test_an_empty_table_falls_back_to_the_shipped_defaults(settings):
    settings.MAILMON_INGEST_RULES_REFRESH = 0
    BounceRule.objects.all().delete()
    assert [rule.name for rule in bounce_rules_current()] == sorted(
        (rule["name"] for rule in DEFAULT_RULES),
        key=lambda name: next(r["priority"] for r in DEFAULT_RULES if r["name"] == name),
    )
