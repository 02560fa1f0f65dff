"""Sending in chunks: one SMTP session per account, one limiter call, one statement, follow-ups."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.warmup import services_send
from apps.warmup.models import WarmupDay, WarmupMailbox, WarmupSend
from apps.warmup.services_send import SendResult, SendSpec
from tests.core.factories import UserFactory

from .factories import MailboxFactory

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]


@pytest.fixture(autouse=True)
def _no_replies(settings):
    settings.MAILMON_WARMUP_REPLY_SHARE = 0.0


def boxes(smtp_server, n: int, **fields) -> list[WarmupMailbox]:
    return MailboxFactory.create_batch(n, smtp_port=smtp_server.port, **fields)


def planned(mailbox: WarmupMailbox, count: int) -> None:
    WarmupDay.objects.create(mailbox=mailbox, day=timezone.now().date(), planned=count)


def test_a_chunk_sends_each_mailboxs_messages_over_one_session_in_two_queries(smtp_server,
                                                                              django_assert_max_num_queries):
    a, b, *others = boxes(smtp_server, 6)
    sends = [SendSpec(a.pk, others[0].pk), SendSpec(b.pk, others[1].pk), SendSpec(a.pk, others[2].pk),
             SendSpec(a.pk, others[3].pk), SendSpec(b.pk, others[0].pk)]
    with django_assert_max_num_queries(2):  # the mailboxes; the send log and day counters
        results = services_send.sends_perform(sends=sends)
    assert [r.outcome for r in results] == ["sent"] * 5
    assert sorted(login for login, _ in smtp_server.sessions) == sorted([a.username, b.username])
    assert [m["to"] for m in smtp_server.messages if m["login"] == a.username] == [
        [others[0].address], [others[2].address], [others[3].address]]
    assert WarmupSend.objects.filter(outcome="sent").count() == 5
    assert {d.mailbox_id: d.sent for d in WarmupDay.objects.all()} == {a.pk: 3, b.pk: 2}
    assert len({r.message_id for r in results}) == 5


def test_an_auth_failure_pauses_the_mailbox_once_and_skips_its_other_sends(smtp_server):
    bad, good, recipient = boxes(smtp_server, 3)
    smtp_server.bad_password_users.add(bad.username)
    planned(bad, 3)
    results = services_send.sends_perform(sends=[SendSpec(bad.pk, recipient.pk), SendSpec(good.pk, recipient.pk),
                                                 SendSpec(bad.pk, good.pk), SendSpec(bad.pk, recipient.pk)])
    assert [r.outcome for r in results] == ["auth_failed", "sent", "skipped", "skipped"]
    assert [login for login, _ in smtp_server.sessions].count(bad.username) == 1
    bad.refresh_from_db()
    assert bad.status == "paused" and bad.status_reason.startswith("SMTP authentication failed: 535")
    assert list(WarmupSend.objects.filter(mailbox=bad).values_list("outcome", flat=True)) == ["auth_failed"]
    day = WarmupDay.objects.get(mailbox=bad)
    assert (day.planned, day.failed) == (1, 1)  # the two skipped sends are planned again tomorrow or later


def test_a_session_the_server_ends_after_some_messages_is_opened_again(smtp_server):
    sender, *recipients = boxes(smtp_server, 6)
    smtp_server.session_limit = 2
    results = services_send.sends_perform(sends=[SendSpec(sender.pk, r.pk) for r in recipients])
    assert [r.outcome for r in results] == ["sent"] * 5
    assert len(smtp_server.messages) == 5 and len(smtp_server.sessions) == 3


def test_a_server_refusing_every_message_does_not_loop_on_new_sessions(smtp_server):
    sender, *recipients = boxes(smtp_server, 4)
    smtp_server.session_limit = 0
    results = services_send.sends_perform(sends=[SendSpec(sender.pk, r.pk) for r in recipients])
    assert [r.outcome for r in results] == ["deferred"] * 3 and all(r.retry_in for r in results)
    assert smtp_server.messages == [] and len(smtp_server.sessions) <= 3


def test_sends_over_a_limit_wait_without_a_log_row(smtp_server, settings):
    settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE = 2
    owner = UserFactory()
    a, b, c, d = boxes(smtp_server, 4, owner=owner)
    results = services_send.sends_perform(sends=[SendSpec(a.pk, b.pk), SendSpec(b.pk, c.pk), SendSpec(c.pk, d.pk)])
    assert [r.outcome for r in results] == ["sent", "sent", "wait"]
    assert 29 <= results[2].retry_in <= 31  # one token of 2 per minute
    assert WarmupSend.objects.count() == 2


def test_sends_beyond_the_mailboxs_day_are_dropped_for_the_day(smtp_server):
    a, b, c, d = boxes(smtp_server, 4)
    full = boxes(smtp_server, 1, daily_target=30, ramp_start=30, ramp_ceiling=30)[0]
    planned(full, 31)
    sends = [SendSpec(full.pk, r.pk) for r in (a, b, c, d) for _ in range(8)][:31]
    outcomes = [r.outcome for r in services_send.sends_perform(sends=sends)]
    assert outcomes.count("sent") == 30 and outcomes[-1] == "limited"
    assert WarmupDay.objects.get(mailbox=full).planned == 30


def test_follow_ups_group_retries_waits_and_replies_into_few_chunks():
    sends = [SendSpec(1, 2), SendSpec(3, 4, attempt=2), SendSpec(5, 6), SendSpec(7, 8), SendSpec(9, 10)]
    results = [
        SendResult("deferred", retry_in=60.0),
        SendResult("deferred", retry_in=120.0),
        SendResult("wait", retry_in=3.2),
        SendResult("wait", retry_in=4.9),
        SendResult("sent", message_id="<m@x>", reply=SendSpec(10, 9, 1, "<m@x>", "Hello")),
    ]
    chunks = dict((tuple(tuple(e) for e in entries), countdown)
                  for countdown, entries in services_send.followups(sends, results))
    assert chunks[((1, 2, 2, None, None),)] == 60.0  # next attempt
    assert chunks[((3, 4, 3, None, None),)] == 120.0
    assert chunks[((5, 6, 1, None, None), (7, 8, 1, None, None))] == 4.9  # same attempt, together
    assert 60 <= chunks[((10, 9, 1, "<m@x>", "Hello"),)] <= 600
    assert len(chunks) == 4


def test_a_minute_of_a_cycle_becomes_chunks_per_slot_with_each_senders_sends_together(settings):
    settings.MAILMON_WARMUP_CHUNK_SECONDS, settings.MAILMON_WARMUP_CHUNK_SIZE = 10, 3
    entries = [[5, 1, 0.5], [2, 1, 3.0], [5, 3, 9.9], [2, 4, 12.0], [7, 1, 59.0], [1, 9, 1.0], [3, 9, 2.0]]
    assert services_send.chunks_plan(entries) == [
        (0, [[1, 9], [2, 1], [3, 9]]), (0, [[5, 1], [5, 3]]), (10, [[2, 4]]), (50, [[7, 1]]),
    ]


def test_a_reply_share_of_one_answers_every_message_once_per_pair_and_day(smtp_server, settings):
    settings.MAILMON_WARMUP_REPLY_SHARE = 1.0
    a, b, c = boxes(smtp_server, 3)
    results = services_send.sends_perform(sends=[SendSpec(a.pk, b.pk), SendSpec(a.pk, c.pk)])
    subjects = [m["Subject"] for m in smtp_server.parsed()]
    assert results[0].reply == SendSpec(b.pk, a.pk, 1, results[0].message_id, subjects[0])
    assert results[1].reply == SendSpec(c.pk, a.pk, 1, results[1].message_id, subjects[1])
    assert WarmupDay.objects.get(mailbox=c).planned == 1  # the reply is planned in its sender's day
    again = services_send.sends_perform(sends=[SendSpec(a.pk, b.pk)])
    assert again[0].outcome == "sent" and again[0].reply is None  # b → a is already used today
    reply = services_send.sends_perform(sends=[results[0].reply])
    assert reply[0].outcome == "sent" and reply[0].reply is None  # replies are not answered
    assert smtp_server.parsed()[-1]["In-Reply-To"] == results[0].message_id


def test_a_server_that_cannot_be_reached_fails_every_send_of_the_session_for_a_retry(smtp_server):
    from tests.core.processes import free_port

    [recipient] = boxes(smtp_server, 1)
    sender = MailboxFactory(smtp_port=free_port())  # nothing listens there
    results = services_send.sends_perform(sends=[SendSpec(sender.pk, recipient.pk)] * 2)
    assert [r.outcome for r in results] == ["error", "error"] and all(48 <= r.retry_in <= 72 for r in results)
    rows = list(WarmupSend.objects.values_list("outcome", "smtp_code", "attempt"))
    assert rows == [("error", None, 1)] * 2
    sender.refresh_from_db()
    assert sender.status == "active" and "ConnectionRefusedError" in sender.last_error
    [(countdown, entries)] = services_send.followups([SendSpec(sender.pk, recipient.pk)] * 2, results)
    assert entries == [[sender.pk, recipient.pk, 2, None, None]] * 2
    assert countdown == round(max(r.retry_in for r in results), 3)
