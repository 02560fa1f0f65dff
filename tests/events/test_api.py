"""The email flow API: the selectors' figures over HTTP, 400s naming the field, permissions, query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.events import selectors
from apps.events.time_range import EventFilters, TimeRange
from apps.nodes.models import NodeMetric
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

from .factories import random_events, store_events

ENDPOINTS = [
    "throughput", "stats", "bounce-analysis", "delivery-histogram", "deferred-reasons", "destinations", "queue",
]  # fmt: skip


@pytest.fixture
def traffic(db):
    """Two nodes and two IPs in two pools, 1,500 events over the last 3 hours."""
    nodes = [NodeFactory(hostname="mta-1.example.net"), NodeFactory(hostname="mta-2.example.net")]
    pools = [IpPoolFactory(name="transactional"), IpPoolFactory(name="bulk")]
    SendingIPFactory(address="198.51.100.1", node=nodes[0], pool=pools[0])
    SendingIPFactory(address="198.51.100.2", node=nodes[1], pool=pools[1])
    start = timezone.now() - dt.timedelta(hours=3)
    rows = random_events(
        count=1500, start=start, span=dt.timedelta(hours=3), node_ids=[n.id for n in nodes],
        ips=["198.51.100.1", "198.51.100.2"],
    )  # fmt: skip
    store_events(rows)
    return {"nodes": nodes, "pools": pools}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_answers_a_viewer(traffic, viewer_client, endpoint):
    response = viewer_client.get(f"/api/v1/email/{endpoint}", {"range": "6h"})
    assert response.status_code == 200, response.content
    assert response.json()["resolution"] == "1h"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_anonymous_and_unprivileged_users_are_refused(db, client, endpoint, django_user_model):
    assert client.get(f"/api/v1/email/{endpoint}").status_code in (401, 403)
    user = django_user_model.objects.create_user("nobody", password="x" * 20)
    client.force_login(user)
    assert client.get(f"/api/v1/email/{endpoint}").status_code == 403


def test_stats_equal_the_selector_and_filters_resolve_names(traffic, viewer_client):
    node, pool = traffic["nodes"][0], traffic["pools"][1]
    by_name = viewer_client.get("/api/v1/email/stats", {"range": "24h", "node": node.hostname}).json()
    by_id = viewer_client.get("/api/v1/email/stats", {"range": "24h", "node": str(node.id)}).json()
    expected = selectors.stats(
        time_range=TimeRange.parse(range="24h", start=None, end=None), filters=EventFilters(node=node.id)
    )
    assert by_name == by_id
    assert by_name["total"] == expected["total"] > 0
    assert by_name["delivery_time_ms"] == pytest.approx(expected["delivery_time_ms"])
    by_pool = viewer_client.get("/api/v1/email/stats", {"pool": "bulk"}).json()
    assert by_pool["total"] == selectors.stats(
        time_range=TimeRange.parse(range="24h", start=None, end=None), filters=EventFilters(pool=pool.id)
    )["total"]
    assert 0 < by_pool["total"] < viewer_client.get("/api/v1/email/stats").json()["total"]


def test_custom_range_and_group_by(traffic, viewer_client):
    end = timezone.now()
    params = {"from": (end - dt.timedelta(hours=2)).isoformat(), "to": end.isoformat(), "group_by": "node"}
    body = viewer_client.get("/api/v1/email/throughput", params).json()
    assert body["resolution"] == "5m"
    assert set(body["series"]) == {"mta-1.example.net", "mta-2.example.net"}
    assert all(len(series) == len(body["buckets"]) for series in body["series"].values())


def test_destinations_sort_and_paginate(traffic, viewer_client):
    first = viewer_client.get("/api/v1/email/destinations", {"ordering": "domain", "page_size": 2}).json()
    second = viewer_client.get("/api/v1/email/destinations", {"sort": "domain", "page_size": 2, "page": 2}).json()
    assert first["count"] == second["count"] == 6
    names = [r["domain"] for r in first["results"] + second["results"]]
    assert names == sorted(names) and len(set(names)) == 4


def test_queue_reports_the_latest_size_per_node(traffic, viewer_client):
    node = traffic["nodes"][0]
    now = timezone.now()
    from apps.core import timeseries

    timeseries.ensure_partitions(NodeMetric._meta.db_table, [now.date(), (now - dt.timedelta(hours=1)).date()])
    NodeMetric.objects.create(node=node, time=now - dt.timedelta(minutes=70), queue_size=40)
    NodeMetric.objects.create(node=node, time=now - dt.timedelta(minutes=2), queue_size=12)
    body = viewer_client.get("/api/v1/email/queue", {"range": "6h"}).json()
    assert body["total_now"] == 12
    assert body["per_node_now"][0]["node"] == node.hostname
    assert sorted(v for v in body["series"]["per_node"][node.hostname] if v is not None) == [12, 40]
    assert viewer_client.get("/api/v1/email/queue", {"node": traffic["nodes"][1].id}).json()["total_now"] is None


@pytest.mark.parametrize(
    ("endpoint", "params", "field"),
    [
        ("stats", {"range": "2w"}, "range"),
        ("stats", {"from": "yesterday"}, "from"),
        ("stats", {"from": "2026-11-25T10:00:00"}, "from"),
        ("stats", {"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"}, "to"),
        ("stats", {"to": "2026-11-25T09:00:00Z"}, "from"),
        ("stats", {"node": "no-such-host"}, "node"),
        ("stats", {"pool": "no-such-pool"}, "pool"),
        ("stats", {"ip": "300.1.1.1"}, "ip"),
        ("throughput", {"group_by": "color"}, "group_by"),
        ("destinations", {"ordering": "-nope"}, "ordering"),
        ("destinations", {"page": "0"}, "page"),
        ("destinations", {"page_size": "5000"}, "page_size"),
        ("deferred-reasons", {"limit": "x"}, "limit"),
    ],
)
def test_bad_parameters_answer_400_naming_the_field(db, viewer_client, endpoint, params, field):
    response = viewer_client.get(f"/api/v1/email/{endpoint}", params)
    assert response.status_code == 400
    assert field in response.json(), response.json()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoints_use_a_bounded_number_of_queries(traffic, viewer_client, endpoint, django_assert_max_num_queries):
    params = {"range": "30d", "node": "mta-1.example.net", "group_by": "node"}
    if endpoint != "queue":  # the queue is per node: no pool filter
        params["pool"] = "bulk"
    # session, user, 2 permission lookups, node + pool names, then at most 4 for the question
    with django_assert_max_num_queries(10):
        assert viewer_client.get(f"/api/v1/email/{endpoint}", params).status_code == 200


def test_every_endpoint_is_in_the_openapi_schema_with_its_filters_and_errors(viewer_client):
    schema = viewer_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    for endpoint in ENDPOINTS:
        operation = schema["paths"][f"/api/v1/email/{endpoint}"]["get"]
        names = {p["name"] for p in operation["parameters"]}
        if endpoint == "queue":
            assert {"from", "to", "range", "node"} == names
        else:
            assert {"from", "to", "range", "node", "ip", "pool", "from_domain", "to_domain"} <= names, endpoint
        assert {"200", "400", "403"} <= set(operation["responses"]), endpoint


@pytest.mark.parametrize("name", ["ip", "pool", "from_domain", "to_domain"])
def test_the_queue_refuses_filters_it_cannot_apply(db, viewer_client, name):
    response = viewer_client.get("/api/v1/email/queue", {name: "198.51.100.1" if name == "ip" else "x"})
    assert response.status_code == 400
    assert "not supported here" in response.json()[name][0]
    assert viewer_client.get("/api/v1/email/queue", {name: ""}).status_code == 200  # empty means "not given"


def test_answers_are_shaped_by_the_output_serializer(db, viewer_client, monkeypatch):
    answer = selectors.stats(time_range=TimeRange.parse(range="1h", start=None, end=None), filters=EventFilters())
    monkeypatch.setattr(selectors, "stats", lambda **kwargs: {**answer, "internal_only": 1})
    body = viewer_client.get("/api/v1/email/stats").json()
    assert "internal_only" not in body and body["delivery_time_ms"] == answer["delivery_time_ms"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"node": "no-such-host"}, "node"), ({"ip": "fe80::1%eth0"}, "ip"), ({"to_domain": "a b"}, "to_domain"),
     ({"from_domain": "bad\x00"}, "from_domain"), ({"range": "2w"}, "range")],
)
def test_api_and_pages_parse_filters_alike(db, viewer_client, params, field):
    api = viewer_client.get("/api/v1/email/stats", params)
    page = viewer_client.get("/events/", params)
    assert api.status_code == page.status_code == 400
    message = api.json()[field][0]
    assert message.startswith(f"{field}:")
    assert message.replace("'", "&#x27;") in page.content.decode()
