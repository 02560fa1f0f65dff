"""Anonymous users are refused everywhere but the health and metrics endpoints.

The routes are read from the URL resolver, so every page or API added later is
covered without touching this file.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Routes anyone may call; everything else must refuse an anonymous client.
PUBLIC = {"health", "health/live", "metrics", "accounts/login/", "accounts/logout/", "admin/logout/"}

_CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")


def _concrete(route: str) -> str:
    """A request path for a route pattern: parameters become '1' (regex groups a plain word)."""
    route = _CONVERTER.sub("1", route)
    if route.startswith("^") or "(?P<" in route:
        route = _REGEX_GROUP.sub("nodes", route).replace("^", "").replace("$", "")
    return route


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def all_routes() -> list[str]:
    return sorted({_concrete(route) for route in _walk(get_resolver().url_patterns)})


def _refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    return response.status_code == 302 and location.split("?")[0] in ("/accounts/login/", "/admin/login/")


def test_the_resolver_walk_finds_pages_api_and_admin():
    routes = all_routes()
    assert {"", "nodes/", "api/v1/nodes", "api/v1/nodes/metrics", "api/schema/", "admin/"} <= set(routes)
    assert "admin/nodes/node/1/change/" in routes


@pytest.mark.parametrize("route", [r for r in all_routes() if r not in PUBLIC])
def test_anonymous_is_refused(client, route):
    path = "/" + route
    responses = {method: getattr(client, method)(path) for method in ("get", "post")}
    for method, response in responses.items():
        # 405 only says the method does not exist; anything else must be a refusal.
        assert _refused(response) or response.status_code == 405, (
            f"{method.upper()} {path} answered {response.status_code} to an anonymous client"
        )
    assert any(_refused(r) for r in responses.values()), f"{path} refused no method"


def test_anonymous_htmx_request_gets_401_with_a_redirect_header(client):
    response = client.get("/nodes/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/accounts/login/"


def test_anonymous_may_read_health_live_and_metrics_but_not_health_details(client):
    assert client.get("/health/live").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/health").status_code in (200, 503)  # public either way; see test_health
    assert client.get("/health/detailed").status_code == 401


def test_the_login_page_is_public(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_a_user_without_a_group_is_refused_pages_and_api(client):
    from tests.core.factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get("/").status_code == 403
    assert client.get("/api/v1/nodes").status_code == 403
