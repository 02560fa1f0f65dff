"""``manage.py simulate_traffic`` against a live server: the real HTTP API, the real database."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum

from apps.demo.services import demo_fleet_load
from apps.events.models import EmailEvent
from apps.events.models.inbox import IngestBatch
from apps.nodes.choices import NodeStatus
from apps.nodes.models import Node, NodeMetric
from tests.core.factories import make_agent_key
from tests.demo.test_simulator_client import _Stub

pytestmark = pytest.mark.django_db(transaction=True)

SUMMARY = re.compile(
    r"stopped: events sent (?P<sent>\d+) in (?P<batches>\d+) batches: accepted (?P<accepted>\d+), "
    r"rejected (?P<rejected>\d+), dropped (?P<dropped>\d+), retries (?P<retries>\d+); "
    r"node metrics posted (?P<metrics>\d+), failed (?P<metrics_failed>\d+)"
)


@pytest.fixture
def demo_fleet(transactional_db) -> None:
    demo_fleet_load()
    # Only the simulator's own reports may bring the nodes online.
    Node.objects.update(status=NodeStatus.OFFLINE, last_seen=None)


@pytest.fixture
def sim_key(transactional_db) -> str:
    return make_agent_key("simulator", allowed_cidrs=["127.0.0.0/8", "::1/128"])[1]


def _simulate(live_server, key: str, *args: str) -> tuple[dict[str, int], str, str]:
    out, err = StringIO(), StringIO()
    call_command("simulate_traffic", "--url", live_server.url, "--key", key, "--seed", "3", *args,
                 stdout=out, stderr=err)  # fmt: skip
    match = SUMMARY.search(out.getvalue())
    assert match, out.getvalue()
    return {k: int(v) for k, v in match.groupdict().items()}, out.getvalue(), err.getvalue()


def _ingest_missing(live_server, key: str) -> bool:
    request = urllib.request.Request(
        live_server.url + "/api/v1/events/ingest", data=b"[]", method="POST",
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 404
    return False


def _stored_events() -> int:
    """Events the API accepted: still in the inbox, or already moved to the events table."""
    return (IngestBatch.objects.aggregate(n=Sum("events"))["n"] or 0) + EmailEvent.objects.count()


def test_it_reports_metrics_for_every_node_and_brings_them_online(live_server, demo_fleet, sim_key):
    stats, _out, _err = _simulate(live_server, sim_key, "--duration", "1", "--backfill", "0", "--rate", "5")
    nodes = list(Node.objects.all())
    assert len(nodes) == 15
    assert stats["metrics"] >= 15 and stats["metrics_failed"] == 0
    assert {n.status for n in nodes} == {NodeStatus.ONLINE}
    for node in nodes:
        reports = NodeMetric.objects.filter(node_id=node.id)
        assert reports.exists(), node.hostname
        latest = reports.latest("time")
        assert latest.cpu_percent is not None and "/" in latest.disks and latest.services
        if node.role in ("zonemta-outbound", "postfix"):
            assert latest.queue_size is not None, node.hostname
        else:
            assert latest.queue_size is None, node.hostname


def test_its_events_are_accepted_by_the_ingest_api(live_server, demo_fleet, sim_key):
    assert not _ingest_missing(live_server, sim_key), "POST /api/v1/events/ingest answers 404"
    stats, out, _err = _simulate(
        live_server, sim_key, "--duration", "3", "--backfill", "0.05", "--backfill-rate", "20", "--rate", "100",
        "--no-metrics",
    )  # fmt: skip
    assert "backfill done" in out
    assert stats["sent"] > 300
    assert stats["accepted"] == stats["sent"]
    assert stats["rejected"] == stats["dropped"] == 0
    assert _stored_events() == stats["accepted"]
    assert set(Node.objects.values_list("status", flat=True)) == {NodeStatus.OFFLINE}  # --no-metrics


def test_it_honours_429_retry_after_and_resends_until_accepted(live_server, demo_fleet, sim_key, settings):
    assert not _ingest_missing(live_server, sim_key), "POST /api/v1/events/ingest answers 404"
    settings.MAILMON_INGEST_MAX_BACKLOG = 1  # one stored batch fills the inbox
    settings.MAILMON_INGEST_RETRY_AFTER = 1
    # A full inbox before the first POST, so that the first answer is a 429.
    blocker = IngestBatch.objects.create(events=1, nodes=[], days=[], payload=b"")
    drained, done = [0], threading.Event()

    def worker() -> None:  # stands in for Celery: empties the inbox every 1.5 s
        try:
            while not done.wait(1.5):
                for batch in IngestBatch.objects.all():
                    drained[0] += batch.events if batch.pk != blocker.pk else 0
                    batch.delete()
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        stats, _out, err = _simulate(live_server, sim_key, "--duration", "3", "--backfill", "0", "--rate", "50",
                                     "--no-metrics")  # fmt: skip
    finally:
        done.set()
        thread.join()
    assert "429" in err
    assert stats["retries"] > 0
    assert stats["accepted"] == stats["sent"] > 0
    assert stats["dropped"] == 0
    assert drained[0] + _stored_events() == stats["accepted"]


def test_it_refuses_to_run_without_outbound_nodes(live_server, sim_key):
    with pytest.raises(CommandError, match="load_demo"):
        _simulate(live_server, sim_key, "--duration", "1", "--backfill", "0")


def test_it_stops_with_a_clear_error_on_a_wrong_key(live_server, demo_fleet):
    with pytest.raises(CommandError, match="refused the API key"):
        _simulate(live_server, "not-a-key", "--duration", "1", "--backfill", "0")


def test_events_can_go_to_a_separate_ingest_url(live_server, demo_fleet, sim_key):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    _Stub.answers, _Stub.bodies, _Stub.paths = [], [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ingest_url = f"http://127.0.0.1:{server.server_address[1]}"
        stats, _out, _err = _simulate(live_server, sim_key, "--ingest-url", ingest_url, "--duration", "2",
                                      "--backfill", "0.02", "--rate", "20")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert set(_Stub.paths) == {"/api/v1/events/ingest"}
    assert sum(len(json.loads(body)) for body in _Stub.bodies) == stats["accepted"] == stats["sent"] > 0
    assert stats["metrics"] >= 15 and NodeMetric.objects.exists()  # metrics still went to --url
    assert not IngestBatch.objects.exists()


@pytest.mark.slow
def test_sigterm_stops_the_command_cleanly(live_server, demo_fleet, sim_key):
    from tests.core.processes import subprocess_env

    proc = subprocess.Popen(
        [sys.executable, "manage.py", "simulate_traffic", "--url", live_server.url, "--key", sim_key,
         "--backfill", "0", "--rate", "50", "--seed", "1"],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not NodeMetric.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.2)  # running: its first reports arrived
        assert NodeMetric.objects.exists()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped: events sent" in out
