"""The Node side (agent/js, agent/zonemta) under `node --test`, posting to a live portal."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from apps.events.models import EmailEvent
from apps.events.services import inbox_drain
from tests.agent.enforcement import PREFERRED, loopback_pools, pause
from tests.agent.modules import AGENT_DIR
from tests.agent.mta import require
from tests.core.factories import make_agent_key

pytestmark = pytest.mark.django_db(transaction=True)

NODE = "zonemta-test.example.com"


def node_test(*args: str, **env: str) -> str:
    """Run ``node --test`` in agent/ with ``env``; its TAP output, once every test passed unskipped."""
    done = subprocess.run(["node", "--test", *args], cwd=AGENT_DIR, env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# skipped 0" in done.stdout, done.stdout[-2000:]
    return done.stdout


def test_node_tests_pass_and_zonemta_events_reach_the_portal(live_server):
    """Every Node test, the live ones included: ZoneMTA's events reach the portal, and its
    deliveries leave from the portal's allowed IPs (tests/agent/enforcement.py)."""
    require(shutil.which("node") is not None, "Node.js")
    key = make_agent_key("zonemta-test", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]
    loopback_pools(NODE)
    node_test(MAILMON_TEST_URL=live_server.url, MAILMON_TEST_API_KEY=key, MAILMON_TEST_POOLS_PHASE="active")
    inbox_drain(time_budget=10)
    events = EmailEvent.objects.filter(node__hostname="zonemta-test.example.com")
    assert sorted(events.values_list("type", "recipient")) == [
        ("bounced", "nobody@yahoo.com"),
        ("deferred", "bo@outlook.com"),
        ("deferred", "bo@outlook.com"),
        ("delivered", "ann@gmail.com"),
        ("delivered", "carl@example.net"),
        ("queued", "ann@gmail.com"),
    ]
    busy = events.get(type="deferred", status_code=451)
    assert (busy.sending_ip, busy.enhanced_status, busy.mx_host) == (
        "2001:db8:5::7", "4.7.500", "outlook-com.olc.protection.outlook.com")  # fmt: skip
    rejected = events.get(type="bounced")
    assert (rejected.status_code, rejected.bounce_category) == (554, "policy")


def test_zonemta_moves_deliveries_off_an_ip_paused_in_the_portal(live_server):
    require(shutil.which("node") is not None, "Node.js")
    key = make_agent_key("zonemta-pools", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]
    loopback_pools(NODE, preferred_limit=None)
    pause(PREFERRED)
    output = node_test("zonemta/test/pools.test.js", MAILMON_TEST_URL=live_server.url, MAILMON_TEST_API_KEY=key,
                       MAILMON_TEST_POOLS_PHASE="paused")  # fmt: skip
    assert "ok 4 - live portal" in output, output[-2000:]
