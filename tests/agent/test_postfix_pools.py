"""``mailmon-agent sync-postfix``: rendering (pure) and a real Debian Postfix sending from the
loopback address the portal allows, moving to the other one when the portal pauses it."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.enforcement import OTHER, PREFERRED, loopback_pools, pause
from tests.agent.modules import AGENT_DIR, mailmon_pools
from tests.core.factories import make_agent_key
from tests.core.processes import wait_for

ANSWER = {
    "pools": [
        {"id": 1, "name": "transactional", "ips": [
            {"address": "198.51.100.1", "version": 4, "weight": 100, "remaining": 10},
            {"address": "198.51.100.2", "version": 4, "weight": 100, "remaining": None},
            {"address": "2001:db8::1", "version": 6, "weight": 100, "remaining": None},
        ]},
        {"id": 2, "name": "marketing", "ips": []},
    ]
}  # fmt: skip


def test_each_sender_gets_the_transport_of_an_allowed_ip_and_held_pools_defer():
    senders = {"@shop.example": "transactional", "ceo@shop.example": "transactional", "@news.example": "marketing",
               "@old.example": "gone"}  # fmt: skip
    rendered = mailmon_pools.render(ANSWER, senders, helo={"198.51.100.1": "o1.shop.example"})
    assert rendered.routes["@news.example"] == "retry:4.4.5 mailmon pool marketing without an allowed IP now"
    assert rendered.routes["@old.example"] == "retry:4.4.5 mailmon pool gone unknown to the portal"
    for key in ("@shop.example", "ceo@shop.example"):
        assert rendered.routes[key].startswith("mailmon_") and f"{key}\t{rendered.routes[key]}" in rendered.sender_map
    used = {route.rstrip(":") for route in rendered.routes.values() if route.startswith("mailmon_")}
    for name in used:
        assert f"{name} unix - - n - - smtp" in rendered.master
    assert rendered.master.startswith(mailmon_pools.BEGIN) and rendered.master.endswith(mailmon_pools.END + "\n")
    defaulted = mailmon_pools.render(ANSWER, senders, no_ip="default")
    assert "@news.example" not in defaulted.routes and "@old.example" not in defaulted.routes


def test_ipv6_sources_bind_with_smtp_bind_address6_and_only_ipv6():
    block = mailmon_pools.master_block([{"address": "2001:db8::1"}, {"address": "198.51.100.1"}],
                                       {"198.51.100.1": "o1.example"}, bind_enforce=True)  # fmt: skip
    assert (
        "mailmon_2001_db8__1 unix - - n - - smtp\n  -o smtp_bind_address6=2001:db8::1\n"
        "  -o inet_protocols=ipv6\n  -o smtp_bind_address_enforce=yes\n"
    ) in block
    assert "-o smtp_bind_address=198.51.100.1\n  -o inet_protocols=ipv4\n" in block
    assert "-o smtp_helo_name=o1.example" in block


def test_senders_spread_over_a_pools_ips_by_weight_and_stay_put_when_another_ip_goes():
    ips = [{"address": "198.51.100.1", "weight": 300}, {"address": "198.51.100.2", "weight": 100}]
    keys = [f"@d{n}.example" for n in range(2000)]
    chosen = {key: mailmon_pools.rendezvous(key, ips)["address"] for key in keys}
    share = sum(1 for a in chosen.values() if a == "198.51.100.1") / len(keys)
    assert 0.70 < share < 0.80
    more = ips + [{"address": "198.51.100.3", "weight": 100}]
    moved = [k for k in keys if mailmon_pools.rendezvous(k, more)["address"] not in (chosen[k], "198.51.100.3")]
    assert moved == []  # a new IP only takes senders, never shuffles the others


def test_the_managed_block_is_replaced_in_place_and_appended_once():
    master = "smtp unix - - n - - smtp\n"
    first = mailmon_pools.splice(master, mailmon_pools.master_block([{"address": "198.51.100.1"}], {}))
    second = mailmon_pools.splice(first + "relay unix - - n - - smtp\n",
                                  mailmon_pools.master_block([{"address": "198.51.100.2"}], {}))  # fmt: skip
    assert first.count(mailmon_pools.BEGIN) == 1 and second.count(mailmon_pools.BEGIN) == 1
    assert "198.51.100.1" not in second and "198.51.100.2" in second
    assert second.startswith("smtp unix") and second.endswith("relay unix - - n - - smtp\n")


def test_a_bad_senders_line_is_named(tmp_path):
    path = tmp_path / "senders"
    path.write_text("# comment\nshop.example transactional\nbroken\n")
    with pytest.raises(mailmon_pools.core.ConfigError, match="senders:3: expected 'sender pool'"):
        mailmon_pools.read_senders(path)
    path.write_text("shop.example transactional\nCEO@Shop.example vip\n")
    assert mailmon_pools.read_senders(path) == {"@shop.example": "transactional", "ceo@shop.example": "vip"}


# ------------------------------------------------------------------------ real Postfix

NODE = "mx-test.example.com"


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _sync(postfix, url: str, key: str, spool: Path, senders: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "MAILMON_URL": url, "MAILMON_API_KEY": key, "MAILMON_SPOOL": str(spool),
           "MAILMON_HOSTNAME": NODE}  # fmt: skip
    command = [sys.executable, "-I", str(AGENT_DIR / "mailmon_agent.py"), "sync-postfix", "--once",
               "--config-dir", str(postfix.root / "etc"), "--senders", str(senders), "-v"]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _relay(postfix, peers: list[str], subject: str) -> str:
    count = len(peers)
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.sendmail("app@example.com", ["ok@dest.example"], f"Subject: {subject}\r\n\r\nhello\r\n".encode())
    wait_for(lambda: len(peers) > count, timeout=60, what=f"message {subject!r} at the sink")
    return peers[-1]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_postfix_sends_from_the_allowed_ip_and_moves_when_the_portal_pauses_it(postfix, smtp_sink, live_server,
                                                                              tmp_path):  # fmt: skip
    key = make_agent_key("postfix-pools", allowed_cidrs=["127.0.0.0/8"])[1]
    loopback_pools(NODE, preferred_limit=None)
    senders = tmp_path / "senders"
    senders.write_text("example.com transactional\nnews.example.com marketing\n")
    etc = postfix.root / "etc"
    # The one-time main.cf line of docs/integrations.md.
    line = f"sender_dependent_default_transport_maps = hash:{etc}/mailmon/sender_transport"
    subprocess.run(["postconf", "-c", str(etc), "-e", line], check=True)
    wait_for(lambda: _accepts(postfix.port), timeout=30, what="postfix smtpd")
    peers = smtp_sink[1].peers

    done = _sync(postfix, live_server.url, key, tmp_path / "spool", senders)
    assert done.returncode == 0, done.stderr
    assert "reloaded" in done.stderr, done.stderr
    assert "-o smtp_bind_address=127.0.0.2" in (etc / "master.cf").read_text()
    assert (etc / "mailmon" / "sender_transport.db").exists()
    assert postfix.command("check").strip() == ""  # `postfix check` is silent on a good configuration
    assert _relay(postfix, peers, "first") == PREFERRED

    pause(PREFERRED)
    done = _sync(postfix, live_server.url, key, tmp_path / "spool", senders)
    assert done.returncode == 0 and "reloaded" in done.stderr, done.stderr
    assert "127.0.0.2" not in (etc / "master.cf").read_text()
    assert _relay(postfix, peers, "second") == OTHER

    before = (etc / "master.cf").stat().st_mtime_ns, (etc / "mailmon" / "sender_transport.db").stat().st_mtime_ns
    done = _sync(postfix, live_server.url, key, tmp_path / "spool", senders)
    assert done.returncode == 0 and "reloaded" not in done.stderr, done.stderr
    after = (etc / "master.cf").stat().st_mtime_ns, (etc / "mailmon" / "sender_transport.db").stat().st_mtime_ns
    assert before == after  # nothing changed: no postmap, no reload


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sync_postfix_refuses_a_configuration_postfix_check_rejects(postfix, live_server, tmp_path):
    key = make_agent_key("postfix-refuse", allowed_cidrs=["127.0.0.0/8"])[1]
    loopback_pools(NODE, preferred_limit=None)
    senders = tmp_path / "senders"
    senders.write_text("example.com transactional\n")
    etc = postfix.root / "etc"
    broken = (etc / "master.cf").read_text() + "bogus unix - -\n"  # a hand edit gone wrong
    (etc / "master.cf").write_text(broken)
    done = _sync(postfix, live_server.url, key, tmp_path / "spool", senders)
    assert done.returncode == 1, done.stderr
    assert "rejects the new configuration" in done.stderr and "bad field count" in done.stderr, done.stderr
    assert (etc / "master.cf").read_text() == broken
    assert not (etc / "mailmon" / "sender_transport").exists()
