"""GET /api/v1/nodes/{hostname} and GET /api/v1/nodes/{hostname}/metrics."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.nodes.choices import NodeRole
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.nodes.metrics import every_15s, store_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def mta():
    return NodeFactory(hostname="mta-1.example.net", role=NodeRole.ZONEMTA)


def test_the_node_answer_has_the_node_its_latest_report_services_and_counts(viewer_client, mta):
    start = timezone.now() - dt.timedelta(minutes=10)
    store_metrics(mta, every_15s(start, 3, cpu_percent=lambda i: 10.0 * i, queue_size=7,
                                 services=lambda i: {"zonemta": True, "redis": i < 2}))
    SendingIPFactory(node=mta, status="active")
    SendingIPFactory(node=mta, status="quarantined")
    store_events([event(time=start, node_id=mta.pk), event(time=start, node_id=mta.pk, type="bounced"),
                  event(time=start - dt.timedelta(days=2), node_id=mta.pk)])
    body = viewer_client.get("/api/v1/nodes/mta-1.example.net").json()
    assert body["hostname"] == "mta-1.example.net" and body["role"] == "zonemta-outbound"
    assert body["latest_metrics"]["cpu_percent"] == 20.0 and body["latest_metrics"]["queue_size"] == 7
    assert body["services"] == {"zonemta": True, "redis": False}
    assert body["counts"]["sending_ips"] == {"total": 2, "active": 1, "paused": 0, "quarantined": 1, "retired": 0}
    assert body["counts"]["events_24h"] == {"sent": 2, "delivered": 1, "deferred": 0, "bounced": 1, "rejected": 0}


def test_a_node_that_never_reported_has_null_metrics(viewer_client, mta):
    body = viewer_client.get("/api/v1/nodes/mta-1.example.net").json()
    assert body["latest_metrics"] is None and body["services"] == {}
    assert body["counts"]["events_24h"]["sent"] == 0


@pytest.mark.parametrize("path", ["/api/v1/nodes/nowhere.example.net", "/api/v1/nodes/nowhere.example.net/metrics",
                                  "/api/v1/nodes/a%00b", "/api/v1/nodes/a%00b/metrics"])
def test_an_unknown_hostname_is_a_404_naming_it(viewer_client, path):
    response = viewer_client.get(path)
    assert response.status_code == 404
    assert "No node" in response.json()["detail"]


def test_the_metrics_answer_reports_its_resolution_and_buckets(viewer_client, mta):
    start = timezone.now() - dt.timedelta(minutes=20)
    store_metrics(mta, every_15s(start, 8, cpu_percent=50.0, services={"zonemta": True},
                                 disks={"/": {"used_percent": 70}}))
    body = viewer_client.get("/api/v1/nodes/mta-1.example.net/metrics?range=1h").json()
    assert body["resolution"] == "1m" and len(body["buckets"]) in (60, 61)
    assert sum(body["samples"]) == 8
    assert {v for v in body["series"]["cpu_percent"] if v is not None} == {50.0}
    assert set(body["series"]) >= {"cpu_percent", "memory_percent", "net_rx_bps", "queue_size", "load1"}
    assert body["disks"]["/"].count(70.0) >= 1 and body["services"]["zonemta"].count(1.0) >= 1


@pytest.mark.parametrize(("query", "resolution"), [("range=24h", "5m"), ("range=7d", "30m"), ("range=30d", "2h"),
                                                   ("from=2026-01-01T00:00:00Z&to=2026-01-01T03:00:00Z", "1m")])
def test_the_resolution_follows_the_range(viewer_client, mta, query, resolution):
    body = viewer_client.get(f"/api/v1/nodes/mta-1.example.net/metrics?{query}").json()
    assert body["resolution"] == resolution


def test_a_custom_range_is_echoed(viewer_client, mta):
    body = viewer_client.get("/api/v1/nodes/mta-1.example.net/metrics?from=2026-01-01T00:00:00Z"
                             "&to=2026-01-01T01:00:00Z").json()
    assert body["from"].startswith("2026-01-01T00:00:00") and body["to"].startswith("2026-01-01T01:00:00")
    assert body["buckets"][0].startswith("2026-01-01T00:00:00") and len(body["buckets"]) == 60


@pytest.mark.parametrize(("query", "field"), [("range=2y", "range"), ("from=yesterday", "from"),
                                              ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
                                              ("range=1h&from=2026-01-01T00:00:00Z", "range")])
def test_bad_ranges_are_400s_naming_the_field(viewer_client, mta, query, field):
    response = viewer_client.get(f"/api/v1/nodes/mta-1.example.net/metrics?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_both_need_a_login(client, mta):
    assert client.get("/api/v1/nodes/mta-1.example.net").status_code == 403
    assert client.get("/api/v1/nodes/mta-1.example.net/metrics").status_code == 403


def test_both_are_in_the_schema(viewer_client):
    paths = viewer_client.get("/api/schema/?format=json").json()["paths"]
    assert "404" in paths["/api/v1/nodes/{hostname}"]["get"]["responses"]
    metrics = paths["/api/v1/nodes/{hostname}/metrics"]["get"]
    assert {p["name"] for p in metrics["parameters"]} >= {"hostname", "range", "from", "to"}


def test_a_hostname_with_a_slash_is_served(viewer_client):
    NodeFactory(hostname="rack/mx1")
    assert viewer_client.get("/api/v1/nodes/rack/mx1").json()["hostname"] == "rack/mx1"
    assert viewer_client.get("/api/v1/nodes/rack/mx1/metrics").json()["hostname"] == "rack/mx1"
