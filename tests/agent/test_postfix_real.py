"""A real Debian Postfix relays to the sink; ``ship-postfix`` turns its log into the right events."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage

import pytest

from apps.events.models import EmailEvent
from apps.events.services import inbox_drain
from tests.agent.modules import AGENT_DIR
from tests.core.factories import make_agent_key
from tests.core.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_postfix_sent_deferred_bounced_and_expired_arrive_as_events(postfix, smtp_sink, live_server, tmp_path):
    key = make_agent_key("postfix-e2e", allowed_cidrs=["127.0.0.0/8"])[1]
    wait_for(lambda: _accepts(postfix.port), timeout=30, what="postfix smtpd")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "app@example.com", "ok@dest.example", "e2e"
    message["Message-ID"] = "<e2e-1@example.com>"
    message.set_content("hello")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.send_message(message, to_addrs=["ok@dest.example", "defer1@dest.example", "reject1@dest.example"])
    # Done when the original is removed and both non-delivery notices have reached the sink.
    wait_for(lambda: postfix.log.exists() and postfix.log.read_text().count("removed") >= 3, timeout=60,
             what="postfix to finish")  # fmt: skip
    env = {"PATH": os.environ["PATH"], "MAILMON_URL": live_server.url, "MAILMON_API_KEY": key,
           "MAILMON_SPOOL": str(tmp_path), "MAILMON_HOSTNAME": "mx-test.example.com"}  # fmt: skip
    command = [
        sys.executable,
        "-I",
        str(AGENT_DIR / "mailmon_agent.py"),
        "ship-postfix",
        "--once",
        "--log",
        str(postfix.log),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + postfix.log.read_text()
    inbox_drain(time_budget=10)
    events = {(e.type, e.recipient): e for e in EmailEvent.objects.all()}
    log = postfix.log.read_text()
    assert sorted(events) == [("bounced", "defer1@dest.example"), ("bounced", "reject1@dest.example"),
                              ("deferred", "defer1@dest.example"), ("delivered", "app@example.com"),
                              ("delivered", "ok@dest.example")], log  # fmt: skip
    sent = events["delivered", "ok@dest.example"]
    assert (sent.sender, sent.message_id, sent.status_code) == ("app@example.com", "<e2e-1@example.com>", 250)
    assert sent.mx_host == "127.0.0.1" and sent.enhanced_status == "2.0.0" and sent.size > 0
    deferred = events["deferred", "defer1@dest.example"]
    assert (deferred.status_code, deferred.enhanced_status) == (451, "4.3.0")
    rejected = events["bounced", "reject1@dest.example"]
    assert (rejected.status_code, rejected.enhanced_status, rejected.bounce_category) == (
        550, "5.1.1", "invalid_recipient")  # fmt: skip
    assert "expired" in events["bounced", "defer1@dest.example"].response
    notice = events["delivered", "app@example.com"]  # the non-delivery notification, from <>
    assert notice.sender == "" and notice.node.hostname == "mx-test.example.com"
    assert len(smtp_sink[1].delivered) == 3
