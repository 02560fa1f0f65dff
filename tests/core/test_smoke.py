from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_user_is_sent_to_login_from_the_overview(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_viewer_sees_the_fleet_overview(viewer_client):
    from tests.nodes.factories import NodeFactory

    NodeFactory(hostname="mta-x.example.net")
    response = viewer_client.get("/")
    assert response.status_code == 200
    assert b"mta-x.example.net" in response.content
