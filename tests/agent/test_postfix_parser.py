# ruff: noqa: E501  (real Postfix log lines are long)
"""The Postfix shipper's parser and log follower on real Postfix log lines (no portal needed)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.agent.modules import mailmon_postfix as postfix

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# One message to four recipients through smtp: sent, deferred (refused), deferred (4xx), bounced (5xx,
# IPv6 relay), with other daemons' lines interleaved; then the deferred ones expire.
LOG = """\
Nov 25 10:00:00 mx1 postfix/smtpd[1201]: connect from app1.example.com[192.0.2.10]
Nov 25 10:00:00 mx1 postfix/smtpd[1201]: 4Hx2Zk0Qm1z9tVc: client=app1.example.com[192.0.2.10]
Nov 25 10:00:00 mx1 postfix/cleanup[1202]: 4Hx2Zk0Qm1z9tVc: message-id=<20261125100000.1@app1.example.com>
Nov 25 10:00:00 mx1 opendkim[880]: 4Hx2Zk0Qm1z9tVc: DKIM-Signature field added (s=mail, d=example.com)
Nov 25 10:00:00 mx1 postfix/qmgr[1100]: 4Hx2Zk0Qm1z9tVc: from=<news@example.com>, size=4821, nrcpt=4 (queue active)
Nov 25 10:00:00 mx1 postfix/smtpd[1201]: disconnect from app1.example.com[192.0.2.10] ehlo=1 mail=1 rcpt=4 data=1 quit=1 commands=8
Nov 25 10:00:01 mx1 postfix/smtp[1203]: 4Hx2Zk0Qm1z9tVc: to=<ann@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.4, delays=0.05/0.01/0.62/0.72, dsn=2.0.0, status=sent (250 2.0.0 OK  1764064801 a640c23a62f3a-b1e5si12345eb.301 - gsmtp)
Nov 25 10:00:01 mx1 postfix/smtp[1204]: connect to mx.dead.example[203.0.113.5]:25: Connection refused
Nov 25 10:00:01 mx1 postfix/smtp[1204]: 4Hx2Zk0Qm1z9tVc: to=<bo@dead.example>, relay=none, delay=1.1, delays=0.05/0.02/1/0, dsn=4.4.1, status=deferred (connect to mx.dead.example[203.0.113.5]:25: Connection refused)
Nov 25 10:00:02 mx1 postfix/smtp[1205]: 4Hx2Zk0Qm1z9tVc: to=<cy@busy.example>, orig_to=<cy@alias.example>, relay=mx.busy.example[198.51.100.25]:25, conn_use=2, delay=2.2, delays=0.05/0/0.9/1.2, dsn=4.7.0, status=deferred (host mx.busy.example[198.51.100.25] said: 421 4.7.0 Try again later, closing connection. (in reply to MAIL FROM command))
Nov 25 10:00:02 mx1 postfix/smtp[1206]: 4Hx2Zk0Qm1z9tVc: to=<dee@v6.example>, relay=mx.v6.example[2001:db8::25]:25, delay=2.5, delays=0.05/0/1.2/1.2, dsn=5.1.1, status=bounced (host mx.v6.example[2001:db8::25] said: 550 5.1.1 <dee@v6.example>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
Nov 25 10:00:02 mx1 postfix/bounce[1207]: 4Hx2Zk0Qm1z9tVc: sender non-delivery notification: 4Hx2Zl1Rn2z9tVd
Nov 26 06:00:05 mx1 postfix/qmgr[1100]: 4Hx2Zk0Qm1z9tVc: from=<news@example.com>, status=expired, returned to sender
Nov 26 06:00:05 mx1 postfix/qmgr[1100]: 4Hx2Zk0Qm1z9tVc: removed
"""


def _events(text: str, node: str = "mx1.example.com") -> list[dict]:
    parser = postfix.PostfixParser(node)
    return [event for line in text.splitlines(keepends=True) for event in parser.feed(line, NOW)]


def test_sent_deferred_bounced_and_expired_become_events_joined_by_queue_id():
    events = _events(LOG)
    assert [(e["type"], e["to"]) for e in events] == [
        ("delivered", "ann@gmail.com"),
        ("deferred", "bo@dead.example"),
        ("deferred", "cy@busy.example"),
        ("bounced", "dee@v6.example"),
        ("bounced", "bo@dead.example"),  # expired
        ("bounced", "cy@busy.example"),  # expired
    ]
    for event in events:
        assert event["from"] == "news@example.com" and event["size"] == 4821
        assert event["message_id"] == "<20261125100000.1@app1.example.com>"
        assert event["node"] == "mx1.example.com" and event["queue_id"] == "4Hx2Zk0Qm1z9tVc"
    sent, refused, busy, unknown, expired, _ = events
    local = datetime(2026, 11, 25, 10, 0, 1).astimezone()
    assert datetime.fromisoformat(sent["time"]) == local
    assert sent["mx"] == "gmail-smtp-in.l.google.com" and sent["relay_ip"] == "142.250.102.27"
    assert (sent["status_code"], sent["enhanced_status"], sent["delay_ms"]) == (250, "2.0.0", 1400)
    assert sent["response"].startswith("250 2.0.0 OK") and sent["delays"] == "0.05/0.01/0.62/0.72"
    assert "mx" not in refused and "status_code" not in refused and refused["enhanced_status"] == "4.4.1"
    assert refused["response"] == "connect to mx.dead.example[203.0.113.5]:25: Connection refused"
    assert (busy["status_code"], busy["orig_to"], busy["conn_use"]) == (421, "cy@alias.example", "2")
    assert unknown["relay_ip"] == "2001:db8::25" and unknown["mx"] == "mx.v6.example"
    assert (unknown["status_code"], unknown["enhanced_status"]) == (550, "5.1.1")
    assert expired["postfix_status"] == "expired" and "Connection refused" in expired["response"]
    assert datetime.fromisoformat(expired["time"]) == datetime(2026, 11, 26, 6, 0, 5).astimezone()
    assert len({e["event_id"] for e in events}) == len(events)


def test_event_ids_are_stable_when_the_same_lines_are_read_again():
    assert [e["event_id"] for e in _events(LOG)] == [e["event_id"] for e in _events(LOG)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Nov 25 10:00:03 mx1 postfix/lmtp[1301]: 4Hx2Zm: to=<u1@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.08, delays=0.02/0.01/0.01/0.04, dsn=2.0.0, status=sent (250 2.0.0 <u1@example.com> 8C1lKt0gZ2aLBQAAtrsBCA Saved)",
            {"type": "delivered", "to": "u1@example.com", "status_code": 250, "transport": "lmtp"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix/local[1302]: 4Hx2Zm: to=<root@mx1.example.com>, orig_to=<root>, relay=local, delay=0.02, delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)",
            {"type": "delivered", "to": "root@mx1.example.com", "orig_to": "root", "relay": "local"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix/virtual[1303]: 4Hx2Zm: to=<v@example.org>, relay=virtual, delay=0.1, delays=0.05/0/0/0.05, dsn=2.0.0, status=sent (delivered to maildir)",
            {"type": "delivered", "transport": "virtual"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix/pipe[1304]: 4Hx2Zm: to=<p@example.org>, relay=dovecot, delay=0.3, delays=0.1/0/0/0.2, dsn=5.1.1, status=bounced (user unknown)",
            {"type": "bounced", "transport": "pipe", "enhanced_status": "5.1.1", "response": "user unknown"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix/error[1305]: 4Hx2Zm: to=<e@dead.example>, relay=none, delay=300, delays=300/0/0/0, dsn=4.4.1, status=deferred (delivery temporarily suspended: connect to mx.dead.example[203.0.113.5]:25: Connection refused)",
            {"type": "deferred", "transport": "error", "delay_ms": 300000},
        ),
        (
            "2026-11-25T10:00:03.412345+01:00 mx1 postfix/smtp[1306]: 4Hx2Zm: to=<r@example.net>, relay=mx.example.net[203.0.113.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 ok)",
            {"type": "delivered", "time": "2026-11-25T10:00:03.412345+01:00"},
        ),
        (
            "2026-11-25T10:00:03.4+0100 mx1 postfix/smtp[1306]: 4Hx2Zm: to=<r@example.net>, relay=mx.example.net[203.0.113.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 ok)",
            {"type": "delivered", "time": "2026-11-25T10:00:03.400000+01:00"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix-out/smtp[1307]: 4Hx2Zm: to=<o@example.net>, relay=mx.example.net[203.0.113.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 ok)",
            {"type": "delivered", "to": "o@example.net"},
        ),
        (
            "Nov 25 10:00:03 mx1 postfix/smtpd[1308]: NOQUEUE: reject: RCPT from unknown[192.0.2.66]: 554 5.7.1 <spam@example.com>: Relay access denied; from=<x@spam.example> to=<spam@example.com> proto=ESMTP helo=<spam>",
            {"type": "rejected", "to": "spam@example.com", "from": "x@spam.example", "status_code": 554},
        ),
    ],
)
def test_every_transport_and_timestamp_format(line, expected):
    (event,) = _events(line + "\n")
    assert expected.items() <= event.items()


@pytest.mark.parametrize(
    "line",
    [
        "Nov 25 10:00:03 mx1 dovecot: imap-login: Login: user=<u1@example.com>, method=PLAIN, rip=192.0.2.1",
        "Nov 25 10:00:03 mx1 postfix/smtp[1309]: 4Hx2Zm: to=<v@example.org>, relay=mx[192.0.2.2]:25, delay=1, delays=1/0/0/0, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)",
        "Nov 25 10:00:03 mx1 postfix/anvil[1310]: statistics: max connection rate 1/60s for (smtp:192.0.2.1) at Nov 25 09:58:20",
        "garbage that is no syslog line",
    ],
)
def test_other_lines_make_no_event(line):
    assert _events(line + "\n") == []


def test_a_syslog_stamp_without_a_year_is_never_in_the_future():
    parser = postfix.PostfixParser("mx1")
    line = "Dec 31 23:59:59 mx1 postfix/smtp[1]: AB12CD: to=<a@b.example>, relay=none, delay=1, dsn=4.4.1, status=deferred (x)\n"
    (event,) = parser.feed(line, datetime(2027, 1, 1, 0, 0, 30, tzinfo=UTC))
    assert event["time"].startswith("2026-12-31T23:59:59")
    assert datetime.fromisoformat(event["time"]) - NOW < timedelta(days=40)


def test_the_follower_survives_rotation_and_a_half_written_line(tmp_path: Path):
    log = tmp_path / "mail.log"
    log.write_text("line 1\nline 2\npartial")
    follower = postfix.LogFollower(log)
    follower.resume(None, 0)
    assert list(follower.lines()) == ["line 1\n", "line 2\n"]
    with open(log, "a") as handle:
        handle.write(" line 3\nline 4\n")
    os.rename(log, tmp_path / "mail.log.1")  # logrotate
    log.write_text("new 1\n")
    assert list(follower.lines()) == ["partial line 3\n", "line 4\n"]
    assert list(follower.lines()) == ["new 1\n"]
    inode, offset = follower.inode, follower.offset
    with open(log, "a") as handle:
        handle.write("new 2\n")
    os.rename(log, tmp_path / "mail.log.1")  # rotated again while the shipper was stopped
    log.write_text("newer 1\n")
    restarted = postfix.LogFollower(log)
    restarted.resume(inode, offset)
    assert list(restarted.lines()) + list(restarted.lines()) == ["new 2\n", "newer 1\n"]
    log.write_text("cut\n")  # copytruncate, then a short line
    assert list(restarted.lines()) == ["cut\n"]
