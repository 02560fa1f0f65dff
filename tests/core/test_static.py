"""The portal works offline: Plotly, htmx and the live script are served from our own static files."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_plotly_is_served_locally(client):
    response = client.get("/static/vendor/plotly/plotly.min.js")
    assert response.status_code == 200
    assert b"plotly" in b"".join(response.streaming_content)[:2000].lower()


def test_every_script_on_the_overview_is_local(viewer_client, client):
    html = viewer_client.get("/").content.decode()
    sources = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert any("htmx" in src for src in sources) and any("live.js" in src for src in sources)
    for src in sources:
        assert src.startswith("/static/"), src
        assert client.get(src).status_code == 200, src
