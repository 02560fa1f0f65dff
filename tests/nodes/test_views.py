"""The fleet overview page and its htmx partial."""

from __future__ import annotations

import pytest

from apps.nodes.choices import NodeRole, NodeStatus
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db


def test_the_overview_lists_nodes_with_role_and_status(viewer_client):
    NodeFactory(hostname="mx-in-1.example.net", role=NodeRole.HARAKA, status=NodeStatus.DEGRADED)
    html = viewer_client.get("/").content.decode()
    assert "mx-in-1.example.net" in html and "Haraka" in html and "Degraded" in html
    assert 'data-live-streams="fleet"' in html  # the page opens the live socket


def test_the_overview_is_served_at_root_and_under_nodes(viewer_client):
    NodeFactory(hostname="a.example.net")
    assert b"a.example.net" in viewer_client.get("/nodes/").content


def test_an_htmx_filter_returns_only_the_rows_partial(viewer_client):
    NodeFactory(hostname="a.example.net", role=NodeRole.HARAKA)
    NodeFactory(hostname="b.example.net", role=NodeRole.REDIS)
    response = viewer_client.get("/nodes/?role=redis", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    assert "b.example.net" in html and "a.example.net" not in html


def test_the_overview_query_count_does_not_grow_with_the_fleet(viewer_client, django_assert_max_num_queries):
    for _ in range(40):
        NodeFactory()
    with django_assert_max_num_queries(10):
        assert viewer_client.get("/").status_code == 200


def test_navigation_names_every_module(viewer_client):
    html = viewer_client.get("/").content.decode()
    for label in ("Fleet", "Sending IPs", "Pools", "Reputation", "Warmup", "Alerts", "Reports"):
        assert f">{label}</a>" in html


def test_a_module_not_built_yet_says_so(viewer_client):
    response = viewer_client.get("/reports/")
    assert response.status_code == 200
    assert b"Not built yet" in response.content
