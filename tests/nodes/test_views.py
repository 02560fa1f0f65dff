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
    assert 'data-live-streams="fleet,events"' in html  # the page opens the live socket
    assert 'href="/nodes/mx-in-1.example.net/"' in html  # each card opens the node's page


def test_the_overview_is_served_at_root_and_under_nodes(viewer_client):
    NodeFactory(hostname="a.example.net")
    assert b"a.example.net" in viewer_client.get("/nodes/").content


def test_an_htmx_filter_returns_only_the_live_partial(viewer_client):
    NodeFactory(hostname="a.example.net", role=NodeRole.HARAKA)
    NodeFactory(hostname="b.example.net", role=NodeRole.REDIS)
    response = viewer_client.get("/nodes/?role=redis", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html
    cards = html[html.index('id="node-cards"') :]
    assert "b.example.net" in cards and "a.example.net" not in cards


def test_navigation_shows_only_modules_that_are_built(viewer_client):
    html = viewer_client.get("/").content.decode()
    nav = html.split('<nav class="nav">')[1].split("</nav>")[0]
    for label in ("Fleet", "Email flow", "Bounces", "Events", "Sending IPs", "Pools", "Reputation", "Warmup", "Alerts"):
        assert f">{label}</a>" in nav
    assert ">Reports</a>" not in nav  # its page still says "not built yet"


def test_a_module_appears_in_the_navigation_when_it_registers(viewer_client, monkeypatch):
    from apps.core import navigation

    monkeypatch.setattr(navigation, "NAV_ITEMS", dict(navigation.NAV_ITEMS))
    navigation.nav_register(label="Reports", url_name="reports-index", order=80)
    nav = viewer_client.get("/").content.decode().split('<nav class="nav">')[1].split("</nav>")[0]
    assert ">Reports</a>" in nav and nav.index(">Alerts<") < nav.index(">Reports<")


def test_navigation_leaves_out_pages_the_user_may_not_see(client, db):
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    from apps.core.context_processors import navigation

    request = RequestFactory().get("/")
    request.user = User.objects.create_user("nobody")
    assert navigation(request)["nav_items"] == []


def test_a_module_not_built_yet_says_so(viewer_client):
    response = viewer_client.get("/reports/")
    assert response.status_code == 200
    assert b"Not built yet" in response.content
