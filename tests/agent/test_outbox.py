"""The agent's spool and outbox: the retry contract of docs/events.md, order, bounds, clock skew.

The portal's odd answers (429, 503, 400, a far-off Date header) come from a stub on loopback;
tests/agent/test_agent_e2e.py runs the same code against the real portal."""

from __future__ import annotations

import json
import random
import re
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.agent.modules import mailmon_agent as agent


class _Portal(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict]] = []
    received: list[bytes] = []
    date_offset = 0.0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status, headers = self.answers.pop(0) if self.answers else (202, {})
        if status == 202:
            self.received.append(body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def date_time_string(self, timestamp=None) -> str:
        import time

        return formatdate(time.time() + self.date_offset, usegmt=True)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def portal():
    _Portal.answers, _Portal.received, _Portal.date_offset = [], [], 0.0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Portal
    server.shutdown()
    server.server_close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outbox(url: str, tmp_path, max_entries: int = 100) -> agent.Outbox:
    config = agent.Config(url=url, api_key="k", hostname="mx1", spool=str(tmp_path), timeout=5)
    return agent.Outbox(config, agent.Spool(tmp_path / "metrics", max_entries), rng=random.Random(1), clock=_Clock())


def _body(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


def test_unanswered_reports_wait_on_disk_and_are_replayed_in_order(portal, tmp_path):
    url, handler = portal
    handler.answers = [(503, {"Retry-After": "5"}), (429, {"Retry-After": "2"})]
    outbox = _outbox(url, tmp_path)
    outbox.submit("/p", _body(1))  # 503: spooled, retry after >= 5 s
    assert len(outbox.spool) == 1 and outbox.seconds_to_next_try() >= 5
    outbox.submit("/p", _body(2))  # behind the first, not sent before it
    assert handler.received == [] and len(outbox.spool) == 2
    # A new process (after a crash) finds the spool as it was.
    outbox = agent.Outbox(outbox.config, agent.Spool(tmp_path / "metrics"), clock=outbox.clock)
    outbox.clock.now += 6
    assert not outbox.drain()  # 429 this time
    outbox.clock.now += 3
    assert outbox.drain()
    assert handler.received == [_body(1), _body(2)] and len(outbox.spool) == 0 and outbox.sent == 2


def test_a_refused_report_is_dropped_and_the_next_one_goes_out(portal, tmp_path, caplog):
    url, handler = portal
    handler.answers = [(400, {})]
    outbox = _outbox(url, tmp_path)
    outbox.submit("/p", _body(1))
    outbox.submit("/p", _body(2))
    assert handler.received == [_body(2)] and len(outbox.spool) == 0 and outbox.dropped == 1
    assert "refused /p for good (HTTP 400" in caplog.text


def test_no_answer_backs_off_exponentially_with_jitter(tmp_path):
    outbox = _outbox("http://127.0.0.1:9", tmp_path)
    waits = []
    for n in range(8):
        outbox.clock.now += outbox.seconds_to_next_try()
        outbox.submit("/p", _body(n)) if n == 0 else outbox.drain()
        waits.append(outbox.seconds_to_next_try())
    assert 0.8 <= waits[0] <= 1.2 and 1.6 <= waits[1] <= 2.4 and 3.2 <= waits[2] <= 4.8
    assert all(w <= 72 for w in waits) and waits[-1] >= 48  # capped at max_backoff (60 s) +-20 %
    assert len(set(waits)) == len(waits)


def test_a_full_spool_drops_the_oldest_and_counts_them(tmp_path):
    spool = agent.Spool(tmp_path / "s", max_entries=3)
    for n in range(5):
        spool.push("/p", _body(n))
    assert len(spool) == 3 and spool.dropped == 2
    assert spool.peek()[3] == _body(2)
    assert agent.Spool(tmp_path / "s", max_entries=3).dropped == 2  # the count survives a restart


def test_a_clock_far_from_the_portals_gets_a_warning(portal, tmp_path, caplog, monkeypatch):
    url, handler = portal
    monkeypatch.setitem(agent._skew_warned, "at", -1e9)
    outbox = _outbox(url, tmp_path)
    outbox.submit("/p", _body(1))
    assert "off the portal" not in caplog.text
    handler.date_offset = -600  # the portal is 10 minutes behind us
    outbox.submit("/p", _body(2))
    assert re.search(r"this clock is \+(599|600|601) s off the portal's", caplog.text)
    caplog.clear()
    outbox.submit("/p", _body(3))
    assert "off the portal" not in caplog.text  # not again at every report
