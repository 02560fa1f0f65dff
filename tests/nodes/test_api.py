"""GET /api/v1/nodes and POST /api/v1/nodes/metrics."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.nodes.choices import NodeRole, NodeStatus
from apps.nodes.models import NodeMetric
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


def test_the_node_list_returns_every_node_with_role_and_status(viewer_client):
    NodeFactory(hostname="b.example.net", role=NodeRole.HARAKA, status=NodeStatus.DEGRADED)
    NodeFactory(hostname="a.example.net", role=NodeRole.ZONEMTA)
    body = viewer_client.get("/api/v1/nodes").json()
    assert body["count"] == 2
    assert [(n["hostname"], n["role"], n["status"]) for n in body["results"]] == [
        ("a.example.net", "zonemta-outbound", "online"),
        ("b.example.net", "haraka", "degraded"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("role=haraka", ["b.example.net"]), ("status=online", ["a.example.net"]), ("search=b.ex", ["b.example.net"])],
)
def test_the_node_list_filters(viewer_client, query, expected):
    NodeFactory(hostname="b.example.net", role=NodeRole.HARAKA, status=NodeStatus.DEGRADED)
    NodeFactory(hostname="a.example.net", role=NodeRole.ZONEMTA)
    body = viewer_client.get(f"/api/v1/nodes?{query}").json()
    assert [n["hostname"] for n in body["results"]] == expected


def test_a_bad_filter_is_a_400_naming_the_field(viewer_client):
    response = viewer_client.get("/api/v1/nodes?role=toaster")
    assert response.status_code == 400
    assert "role" in response.json()


def test_the_node_list_query_count_does_not_grow_with_the_fleet(viewer_client, django_assert_max_num_queries):
    for _ in range(30):
        NodeFactory()
    with django_assert_max_num_queries(8):
        assert viewer_client.get("/api/v1/nodes").status_code == 200


def test_an_agent_report_is_stored_and_marks_the_node(client, agent_headers):
    payload = {
        "hostname": "mta-3.example.net", "role": "zonemta-outbound", "cpu_percent": 41.5, "memory_percent": 62,
        "disks": {"/": {"used_percent": 71.0, "free_bytes": 1024}}, "net_rx_bytes": 10, "net_tx_bytes": 20,
        "load1": 0.7, "queue_size": 12, "services": {"zonemta": True, "redis": False},
    }
    response = client.post("/api/v1/nodes/metrics", payload, content_type="application/json", **agent_headers)
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "degraded"
    metric = NodeMetric.objects.get()
    assert (metric.cpu_percent, metric.queue_size, metric.disks["/"]["used_percent"]) == (41.5, 12, 71.0)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"cpu_percent": 12}, "hostname"),
        ({"hostname": "x", "cpu_percent": 140}, "cpu_percent"),
        ({"hostname": "x", "role": "toaster"}, "role"),
        ({"hostname": "x", "queue_size": -1}, "queue_size"),
        ({"hostname": "x", "time": "yesterday"}, "time"),
        ({"hostname": "x", "services": {"redis": "maybe"}}, "services"),
    ],
)
def test_a_bad_agent_report_is_a_400_naming_the_field(client, agent_headers, payload, field):
    response = client.post("/api/v1/nodes/metrics", payload, content_type="application/json", **agent_headers)
    assert response.status_code == 400
    assert field in response.json()
    assert not NodeMetric.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=abc", "page"), ("page=-1", "page"), ("page_size=0", "page_size"),
     ("page_size=5000", "page_size"), ("page_size=ten", "page_size")],
)
def test_a_bad_page_or_page_size_is_a_400_naming_the_field(viewer_client, query, field):
    response = viewer_client.get(f"/api/v1/nodes?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_a_page_beyond_the_last_is_a_404_and_last_is_allowed(viewer_client):
    NodeFactory()
    assert viewer_client.get("/api/v1/nodes?page=2").status_code == 404
    assert viewer_client.get("/api/v1/nodes?page=last&page_size=1000").json()["count"] == 1


@pytest.mark.django_db(transaction=True)
def test_with_postgresql_down_an_agent_report_is_a_503_with_retry_after(client, agent_headers, settings,
                                                                        database_refused):
    settings.MAILMON_INGEST_RETRY_AFTER = 7
    with database_refused():
        response = _report(client, agent_headers, cpu_percent=5)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "7"
    assert "Database unavailable" in response.json()["detail"]
    assert _report(client, agent_headers, cpu_percent=5).status_code == 202


def _report(client, agent_headers, **fields):
    payload = {"hostname": "mta-9.example.net", **fields}
    return client.post("/api/v1/nodes/metrics", payload, content_type="application/json", **agent_headers)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time": "9999-12-31T23:59:59Z"}, "time"),  # once: a 500 creating a partition past year 9999
        ({"time": (timezone.now() + dt.timedelta(days=2)).isoformat()}, "time"),
        ({"time": (timezone.now() - dt.timedelta(days=400)).isoformat()}, "time"),
        ({"net_rx_bytes": 2**63}, "net_rx_bytes"),
        ({"queue_size": 2**31}, "queue_size"),
        ({"disks": {"/": {"label": "a\x00b"}}}, "disks"),
        ({"services": {"red\x00is": True}}, "services"),
    ],
)
def test_a_report_the_database_cannot_hold_is_a_400_not_a_500(client, agent_headers, fields, field):
    response = _report(client, agent_headers, **fields)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not NodeMetric.objects.exists()


def test_a_report_from_a_slightly_fast_clock_is_kept(client, agent_headers):
    assert _report(client, agent_headers, time=(timezone.now() + dt.timedelta(hours=2)).isoformat()).status_code == 202


def test_both_endpoints_are_in_the_openapi_schema(viewer_client):
    paths = viewer_client.get("/api/schema/?format=json").json()["paths"]
    assert "get" in paths["/api/v1/nodes"]
    assert "post" in paths["/api/v1/nodes/metrics"]
    assert paths["/api/v1/nodes/metrics"]["post"]["security"] == [{"AgentApiKey": []}]
    assert {"202", "400", "401", "403"} <= set(paths["/api/v1/nodes/metrics"]["post"]["responses"])
    assert {"200", "400", "403", "404"} <= set(paths["/api/v1/nodes"]["get"]["responses"])
    page = next(p for p in paths["/api/v1/nodes"]["get"]["parameters"] if p["name"] == "page_size")
    assert (page["schema"]["minimum"], page["schema"]["maximum"]) == (1, 1000)
