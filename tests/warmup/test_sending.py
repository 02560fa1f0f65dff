"""Sending through a real SMTP server on loopback (aiosmtpd with AUTH)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.core.models import AuditLog
from apps.ips.choices import IpStatus
from apps.warmup import services, services_send
from apps.warmup.content import HEADER
from apps.warmup.models import WarmupDay, WarmupMailbox, WarmupSend
from tests.core.factories import UserFactory
from tests.ips.factories import SendingIPFactory

from .factories import PASSWORD, MailboxFactory

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]


@pytest.fixture(autouse=True)
def _no_replies(settings):
    settings.MAILMON_WARMUP_REPLY_SHARE = 0.0


def boxes(smtp_server, n: int, **fields) -> list[WarmupMailbox]:
    return MailboxFactory.create_batch(n, smtp_port=smtp_server.port, **fields)


def test_a_send_arrives_authenticated_with_the_warmup_header_and_both_parts(smtp_server):
    sender, recipient = boxes(smtp_server, 2)
    result = services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk)
    assert result.outcome == "sent"
    [message] = smtp_server.parsed()
    assert smtp_server.messages[0]["login"] == sender.username
    assert message["From"] == sender.address and message["To"] == recipient.address
    assert message[HEADER].startswith("v1; id=")
    assert message["Message-ID"] == result.message_id
    assert [part.get_content_type() for part in message.walk()][1:] == ["text/plain", "text/html"]
    log = WarmupSend.objects.get()
    assert (log.outcome, log.smtp_code, log.recipient) == ("sent", 250, recipient.address)
    assert WarmupDay.objects.get(mailbox=sender).sent == 1


def test_a_reply_quotes_the_original_message(smtp_server, settings):
    settings.MAILMON_WARMUP_REPLY_SHARE = 1.0
    sender, recipient = boxes(smtp_server, 2)
    first = services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk)
    reply_sender, reply_recipient, attempt, message_id, subject = first.reply
    assert (reply_sender, reply_recipient, attempt) == (recipient.pk, sender.pk, 1)
    [(countdown, [entry])] = services_send.followups([services_send.SendSpec(sender.pk, recipient.pk)], [first])
    assert 60 <= countdown <= 600 and entry == list(first.reply)
    services_send.send_perform(sender_id=reply_sender, recipient_id=reply_recipient, reply_to=message_id,
                          subject=subject)
    reply = smtp_server.parsed()[1]
    assert reply["In-Reply-To"] == first.message_id and reply["Subject"].startswith("Re: ")
    assert WarmupSend.objects.filter(is_reply=True).count() == 1


def test_an_authentication_failure_pauses_the_mailbox_with_the_reason(smtp_server, caplog):
    sender, recipient = boxes(smtp_server, 2)
    smtp_server.bad_password_users.add(sender.username)
    with caplog.at_level(logging.DEBUG):
        result = services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk)
    assert result.outcome == "auth_failed" and result.retry_in is None
    sender.refresh_from_db()
    assert sender.status == "paused"
    assert sender.status_reason.startswith("SMTP authentication failed: 535")
    assert smtp_server.messages == []
    assert AuditLog.objects.filter(action="warmup_mailbox.paused", object_id=str(sender.pk)).exists()
    assert PASSWORD not in caplog.text
    # a paused mailbox sends nothing more
    assert services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk).outcome == "skipped"


def test_a_4xx_is_retried_with_backoff_and_a_5xx_counted_as_failed(smtp_server, settings):
    sender, deferring, rejecting = boxes(smtp_server, 3)
    smtp_server.rcpt_replies[deferring.address] = "451 4.7.1 try again later"
    smtp_server.rcpt_replies[rejecting.address] = "550 5.7.1 rejected"
    deferred = services_send.send_perform(sender_id=sender.pk, recipient_id=deferring.pk)
    assert deferred.outcome == "deferred" and 48 <= deferred.retry_in <= 72
    settings.MAILMON_WARMUP_MAX_RETRIES = 1
    final = services_send.send_perform(sender_id=sender.pk, recipient_id=deferring.pk, attempt=2)
    assert final.outcome == "deferred" and final.retry_in is None
    failed = services_send.send_perform(sender_id=sender.pk, recipient_id=rejecting.pk)
    assert failed.outcome == "failed" and failed.retry_in is None
    assert WarmupDay.objects.get(mailbox=sender).failed == 2
    sender.refresh_from_db()
    assert sender.status == "failing" and "550" in sender.last_error
    # the next success makes it active again
    services_send.send_perform(sender_id=sender.pk, recipient_id=boxes(smtp_server, 1)[0].pk)
    sender.refresh_from_db()
    assert sender.status == "active"


def test_a_mailbox_whose_sending_ip_is_paused_stops_warming_until_clean(smtp_server):
    ip = SendingIPFactory(status=IpStatus.PAUSED)
    sender, recipient = boxes(smtp_server, 2)
    sender.sending_ip = ip
    sender.save()
    assert services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk).outcome == "skipped"
    assert services.cycle_plan(now=timezone.now()).sends == [] or all(
        s.sender != sender.pk for s in services.cycle_plan(now=timezone.now()).sends)
    ip.status = IpStatus.ACTIVE
    ip.save()
    assert services_send.send_perform(sender_id=sender.pk, recipient_id=recipient.pk).outcome == "sent"


def test_every_mailbox_reaches_its_quota_in_a_simulated_day(smtp_server, settings):
    # The day passes in seconds: the hourly limits (tested with real workers) would hold it back.
    settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE = settings.MAILMON_WARMUP_GLOBAL_PER_HOUR = 10**6
    settings.MAILMON_WARMUP_USER_PER_HOUR = 10**6
    # 30 sends a day to distinct recipients needs at least 31 other participants
    owners = UserFactory.create_batch(2)
    mailboxes = [m for owner in owners for m in boxes(smtp_server, 16, owner=owner, daily_target=30, ramp_start=30,
                                                       ramp_increase=0, ramp_ceiling=30)]
    midnight = datetime.combine(timezone.now().date(), datetime.min.time(), tzinfo=UTC)
    pairs = []
    for cycle in range(96):
        now = midnight + timedelta(seconds=900 * cycle)
        for send in services.cycle_plan(now=now, seed=cycle).sends:
            assert 0 <= send.offset <= 900
            result = services_send.send_perform(sender_id=send.sender, recipient_id=send.recipient, now=now)
            assert result.outcome == "sent"
            pairs.append((send.sender, send.recipient))
    days = {d.mailbox_id: d for d in WarmupDay.objects.all()}
    assert {days[m.pk].sent for m in mailboxes} == {30}
    assert {days[m.pk].target for m in mailboxes} == {30}
    assert len(smtp_server.messages) == 32 * 30
    assert len(set(pairs)) == len(pairs)  # no pair twice in the day
    assert all(s != r for s, r in pairs)


def test_messages_vary_and_non_ascii_subjects_survive_the_wire():
    import email
    import email.policy
    import random

    from apps.warmup.content import TOPICS, build_message

    subjects = set()
    for seed in range(60):
        message = build_message(sender="a@x.example.test", recipient="b@y.example.test", rng=random.Random(seed))
        wire = message.as_bytes()
        assert b"\r\n" in wire and b"\n" not in wire.replace(b"\r\n", b"")
        assert max(len(line) for line in wire.split(b"\r\n")) <= 998
        parsed = email.message_from_bytes(wire, policy=email.policy.default)
        assert not parsed.defects and parsed["Subject"] == message["Subject"]
        plain, rich = (part.get_content().replace("\r\n", "\n") for part in parsed.iter_parts())
        assert (plain, rich) == (message.plain, message.rich)
        subjects.add(parsed["Subject"])
    assert len(subjects) > 20 and any("—" in s for s in subjects)
    assert len({template for template, _ in TOPICS}) >= 7


def test_a_reply_to_a_long_non_ascii_subject_is_encoded_and_threaded():
    import email
    import email.policy

    from apps.warmup.content import build_message

    subject = "Résumé — " + "très long sujet " * 12 + "\r\nBcc: injected@example.test"
    reply = build_message(sender="a@x.example.test", recipient="b@y.example.test",
                          reply_to_message_id="<1@x.example.test>", reply_subject=subject)
    parsed = email.message_from_bytes(reply.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Re: " + " ".join(subject.split())
    assert parsed["In-Reply-To"] == parsed["References"] == "<1@x.example.test>"
    assert parsed["Bcc"] is None and not parsed.defects
