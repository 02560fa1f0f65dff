"""Shared fixtures: personas (anonymous, viewer, operator, admin) and agent keys."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from apps.core.roles import ADMIN, OPERATOR, VIEWER
from tests.core.factories import UserFactory, make_agent_key


def pytest_unconfigure(config) -> None:
    """A test run leaves the machine as it found it: stop the embedded PostgreSQL that
    ``tests/settings.py`` started (not one that was already running, nor one still in use)."""
    from django.db import connections

    from mailmon import embedded

    started = getattr(settings, "EMBEDDED_STARTED", [])
    if started:
        connections.close_all()
        embedded.stop(settings.VAR_DIR, only=started, unless_in_use=True)


@pytest.fixture(autouse=True)
def _clean_redis_counters(settings):
    """Each test starts with empty Redis databases (the test offset, never a portal's)."""
    from apps.core.redis import get_redis

    get_redis().flushdb()
    yield


def _client_for(role: str) -> Client:
    user = UserFactory(username=role.lower(), role=role)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def viewer_client(db) -> Client:
    return _client_for(VIEWER)


@pytest.fixture
def operator_client(db) -> Client:
    return _client_for(OPERATOR)


@pytest.fixture
def admin_role_client(db) -> Client:
    return _client_for(ADMIN)


@pytest.fixture
def agent_key(db) -> str:
    """A fleet-wide agent key allowed from loopback; returns the clear key."""
    _, key = make_agent_key("fleet-agent", allowed_cidrs=["127.0.0.0/8", "::1/128"])
    return key


@pytest.fixture
def agent_headers(agent_key) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {agent_key}", "REMOTE_ADDR": "127.0.0.1"}


@pytest.fixture
def database_refused():
    """A context manager pointing the default connection at a port where no server listens: a real
    connection attempt that fails the way a stopped PostgreSQL does. Leaving it restores the database.
    Only in ``django_db(transaction=True)`` tests: inside the test's atomic block Django keeps the connection open."""
    from contextlib import contextmanager

    from django.db import connection

    from tests.core.processes import free_port

    @contextmanager
    def refused():
        db = connection.settings_dict
        saved = (db["HOST"], db["PORT"])
        connection.close()
        db["HOST"], db["PORT"] = "127.0.0.1", str(free_port())
        try:
            yield
        finally:
            connection.close()
            db["HOST"], db["PORT"] = saved

    return refused
