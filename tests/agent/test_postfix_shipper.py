"""``mailmon-agent ship-postfix`` against the live ingest API: events stored once, rotation followed."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from apps.events.models import EmailEvent
from apps.events.services import inbox_drain
from tests.agent.modules import mailmon_agent as agent
from tests.agent.modules import mailmon_postfix as postfix
from tests.agent.test_postfix_parser import LOG
from tests.core.factories import make_agent_key
from tests.core.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key(transactional_db) -> str:
    return make_agent_key("postfix", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]


def _ship(live_server, key: str, log: Path, spool: Path, *args: str) -> int:
    return agent.main(["ship-postfix", "--once", "--log", str(log), "--url", live_server.url, "--api-key", key,
                       "--spool", str(spool), "--hostname", "mx1.example.com", *args])  # fmt: skip


def _stored() -> list[tuple[str, str]]:
    inbox_drain(time_budget=10)
    return sorted(EmailEvent.objects.values_list("type", "recipient"))


def test_once_ships_the_whole_log_and_a_resend_stores_nothing_twice(live_server, key, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(LOG)
    assert _ship(live_server, key, log, tmp_path / "spool") == 0
    expected = sorted([("delivered", "ann@gmail.com"), ("deferred", "bo@dead.example"),
                       ("deferred", "cy@busy.example"), ("bounced", "dee@v6.example"),
                       ("bounced", "bo@dead.example"), ("bounced", "cy@busy.example")])  # fmt: skip
    assert _stored() == expected
    bounced = EmailEvent.objects.get(recipient="dee@v6.example")
    assert (bounced.status_code, bounced.enhanced_status, bounced.mx_host) == (550, "5.1.1", "mx.v6.example")
    assert bounced.sender == "news@example.com" and bounced.size == 4821 and bounced.delay_ms == 2500
    assert bounced.bounce_category == "invalid_recipient"
    assert not list((tmp_path / "spool").glob("postfix-*/*.req"))  # every batch acknowledged

    assert _ship(live_server, key, log, tmp_path / "spool") == 0  # nothing new: nothing sent
    for state in (tmp_path / "spool").glob("postfix-*.state"):
        state.unlink()  # forget the offset: the whole file goes out again
    assert _ship(live_server, key, log, tmp_path / "spool") == 0
    assert _stored() == expected


def test_events_written_while_the_portal_is_away_are_shipped_later(live_server, key, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(LOG)
    config = agent.Config(url="http://127.0.0.1:9", api_key=key, hostname="mx1.example.com", timeout=2)
    spool = agent.Spool(tmp_path / "spool" / "postfix", 10)
    shipper = postfix.Shipper(config, postfix.LogFollower(log), agent.Outbox(config, spool), tmp_path / "state")
    assert shipper.read_batch() == len(LOG.splitlines())
    assert len(spool) == 1 and _stored() == []  # on disk, offset saved
    config.url = live_server.url  # the portal is back
    shipper.outbox.next_try = 0
    shipper.run(once=True)
    assert len(_stored()) == 6 and len(spool) == 0


def test_the_shipper_follows_the_log_across_rotation(live_server, key, tmp_path):
    log = tmp_path / "mail.log"
    lines = LOG.splitlines(keepends=True)
    log.write_text("".join(lines[:7]))  # up to the first delivery
    config = agent.Config(url=live_server.url, api_key=key, hostname="mx1.example.com", spool=str(tmp_path))
    shipper = postfix.Shipper(config, postfix.LogFollower(log), agent.Outbox(config, agent.Spool(tmp_path / "s")),
                              tmp_path / "state")  # fmt: skip
    thread = threading.Thread(target=shipper.run, kwargs={"once": False, "poll": 0.1}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(_stored()) == 1, timeout=20, what="the first event")
        with open(log, "a") as handle:
            handle.writelines(lines[7:10])
        os.rename(log, tmp_path / "mail.log.1")  # logrotate's create mode
        log.write_text("".join(lines[10:]))
        wait_for(lambda: len(_stored()) == 6, timeout=20, what="events after the rotation")
    finally:
        shipper.stop.set()
        thread.join(10)
    assert _stored().count(("bounced", "dee@v6.example")) == 1


def test_once_with_a_key_the_portal_refuses_exits_2(live_server, tmp_path):
    log = tmp_path / "mail.log"
    log.write_text(LOG)
    assert _ship(live_server, "wrong.key", log, tmp_path / "spool") == 2
