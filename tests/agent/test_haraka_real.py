"""A real Haraka (npm) relays to the sink; the mailmon plugin reports delivered, deferred and bounced."""

from __future__ import annotations

import shutil
import smtplib
import socket
from email.message import EmailMessage

import pytest

from apps.events.models import EmailEvent
from apps.events.services import inbox_drain
from tests.agent.mta import HARAKA_BIN, haraka_install, haraka_start, haraka_stop, require
from tests.core import processes
from tests.core.factories import make_agent_key
from tests.core.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _stored() -> dict:
    inbox_drain(time_budget=10)
    return {(e.type, e.recipient): e for e in EmailEvent.objects.all()}


def test_haraka_outbound_outcomes_arrive_as_events(smtp_sink, live_server, tmp_path):
    require(shutil.which("node") is not None and HARAKA_BIN.exists(), "Haraka (make mta-deps)")
    key = make_agent_key("haraka-e2e", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]
    haraka = haraka_install(tmp_path / "haraka", sink_port=smtp_sink[0], url=live_server.url, key=key,
                            node="haraka-test.example.com")  # fmt: skip
    haraka_start(haraka)
    try:
        wait_for(lambda: _accepts(haraka.port), timeout=60, what="haraka", procs=[haraka.proc])
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "app@example.com", "ok@dest.example", "e2e"
        message["Message-ID"] = "<haraka-e2e-1@example.com>"
        message.set_content("hello")
        with smtplib.SMTP("127.0.0.1", haraka.port, timeout=30) as smtp:
            smtp.send_message(message, to_addrs=["ok@dest.example", "defer1@dest.example", "reject1@dest.example"])
        expected = {("delivered", "ok@dest.example"), ("deferred", "defer1@dest.example"),
                    ("bounced", "reject1@dest.example"), ("bounced", "defer1@dest.example")}  # fmt: skip
        wait_for(lambda: expected <= set(_stored()), timeout=60, what="events from haraka", procs=[haraka.proc])
    finally:
        haraka_stop(haraka)
    events = _stored()
    log = haraka.log.read_text(errors="replace")[-3000:]
    sent = events["delivered", "ok@dest.example"]
    assert sent.node.hostname == "haraka-test.example.com", log
    assert (sent.sender, sent.message_id, sent.mx_host) == (
        "app@example.com",
        "<haraka-e2e-1@example.com>",
        "127.0.0.1",
    )
    assert sent.size and sent.size > 0 and sent.delay_ms is not None
    deferred = events["deferred", "defer1@dest.example"]
    assert (deferred.status_code, deferred.enhanced_status) == (451, "4.3.0"), deferred.response
    assert "Try again later" in deferred.response
    rejected = events["bounced", "reject1@dest.example"]
    assert (rejected.status_code, rejected.enhanced_status) == (550, "5.1.1"), rejected.response
    assert rejected.bounce_category == "invalid_recipient"
    assert [r[1] for r in smtp_sink[1].delivered if "ok@dest.example" in r[1]]


def test_haraka_keeps_events_on_disk_while_the_portal_is_down(smtp_sink, tmp_path):
    """The portal is down when Haraka delivers; it comes up later and the buffered events arrive."""
    require(shutil.which("node") is not None and HARAKA_BIN.exists(), "Haraka (make mta-deps)")
    key = make_agent_key("haraka-outage", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]
    port = processes.free_port()
    haraka = haraka_install(tmp_path / "haraka", sink_port=smtp_sink[0], url=f"http://127.0.0.1:{port}", key=key,
                            node="haraka-outage.example.com")  # fmt: skip
    haraka_start(haraka)
    portal = None
    try:
        wait_for(lambda: _accepts(haraka.port), timeout=60, what="haraka", procs=[haraka.proc])
        with smtplib.SMTP("127.0.0.1", haraka.port, timeout=30) as smtp:
            smtp.sendmail("app@example.com", ["ok@dest.example"], b"Subject: outage\r\n\r\nhello\r\n")
        buffered = lambda: list((haraka.root / "buffer").glob("haraka-*/*.json"))  # noqa: E731
        wait_for(
            lambda: buffered() and smtp_sink[1].delivered, timeout=60, what="a buffered batch", procs=[haraka.proc]
        )
        assert not EmailEvent.objects.exists()
        portal = processes.start(["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mailmon.asgi:application"],
                                 tmp_path / "daphne.log")  # fmt: skip
        wait_for(lambda: ("delivered", "ok@dest.example") in _stored(), timeout=120, what="the buffered event",
                 procs=[haraka.proc, portal])  # fmt: skip
        # The plugin drops its file once it reads the 202, which can come after a fast worker stored the batch.
        wait_for(lambda: not buffered(), timeout=30, what="the buffer emptied", procs=[haraka.proc, portal])
    finally:
        haraka_stop(haraka)
        if portal:
            processes.stop(portal)
    assert EmailEvent.objects.count() == 1 and not buffered()
