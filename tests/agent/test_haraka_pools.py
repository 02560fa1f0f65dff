"""A real Haraka binds its outbound connections to the IP the portal allows for the sender's pool.

The sink sees each message come from 127.0.0.2 or 127.0.0.3; pausing 127.0.0.2 in the portal moves
the next message to 127.0.0.3, and a pool with no allowed IP defers (nothing reaches the sink)."""

from __future__ import annotations

import shutil
import smtplib
import socket
import time

import pytest

from tests.agent.enforcement import OTHER, PREFERRED, loopback_pools, pause
from tests.agent.mta import HARAKA_BIN, haraka_install, haraka_start, haraka_stop, require
from tests.core.factories import make_agent_key
from tests.core.processes import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NODE = "haraka-pools.example.com"


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _send(port: int, sender: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail(sender, ["ok@dest.example"], f"Subject: {subject}\r\n\r\nhello\r\n".encode())


def test_haraka_sends_from_the_pools_allowed_ip_and_moves_off_a_paused_one(smtp_sink, live_server, tmp_path):
    require(shutil.which("node") is not None and HARAKA_BIN.exists(), "Haraka (make mta-deps)")
    key = make_agent_key("haraka-pools", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]
    loopback_pools(NODE, preferred_limit=None)
    pools = (f"[pools]\nenabled=true\ninterval=1\nroute=127.0.0.1:{smtp_sink[0]}\n"
             "[senders]\nexample.com=transactional\nnews.example.com=marketing\n")  # fmt: skip
    haraka = haraka_install(tmp_path / "haraka", sink_port=smtp_sink[0], url=live_server.url, key=key, node=NODE,
                            pools=pools)  # fmt: skip
    peers = smtp_sink[1].peers
    haraka_start(haraka)
    try:
        wait_for(lambda: _accepts(haraka.port), timeout=60, what="haraka", procs=[haraka.proc])
        wait_for(lambda: (tmp_path / "haraka" / "buffer" / "haraka-pools.json").exists(), timeout=30,
                 what="the first pools answer", procs=[haraka.proc])  # fmt: skip
        _send(haraka.port, "app@example.com", "first")
        wait_for(lambda: len(peers) == 1, timeout=60, what="the first message at the sink", procs=[haraka.proc])
        assert peers == [PREFERRED]  # weight 1000 against 1

        pause(PREFERRED)
        time.sleep(2.5)  # the plugin polls every second
        _send(haraka.port, "app@example.com", "second")
        wait_for(lambda: len(peers) == 2, timeout=60, what="the second message at the sink", procs=[haraka.proc])
        assert peers == [PREFERRED, OTHER]

        _send(haraka.port, "shop@news.example.com", "held")  # pool "marketing": its only IP is paused
        wait_for(lambda: "no allowed IPv4" in haraka.log.read_text(errors="replace"), timeout=30,
                 what="the deferral", procs=[haraka.proc])  # fmt: skip
        time.sleep(1)
        assert len(peers) == 2
    finally:
        haraka_stop(haraka)
    log = haraka.log.read_text(errors="replace")
    assert "retval=DENYSOFT" in log and "pool marketing has no allowed IPv4" in log, log[-3000:]
