"""Per-key request rate limits on POST /api/v1/events/ingest: 429 + Retry-After, settable per key."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from apps.core import agent_limits
from apps.core.models import AgentAPIKey
from apps.events.models import IngestBatch
from tests.core.processes import free_port

from .test_ingest_api import URL, event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_no_dispatch")]


@pytest.fixture
def _no_dispatch(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False


def post(client, key: str, n: int = 0):
    body = json.dumps([event(n)])
    return client.post(URL, data=body, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")  # fmt: skip


def test_a_key_over_its_own_rate_limit_gets_429_with_retry_after_and_nothing_is_stored(client):
    _, limited = AgentAPIKey.objects.create_key(name="limited", rate_limit="3/minute")
    _, other = AgentAPIKey.objects.create_key(name="other")
    assert [post(client, limited, n).status_code for n in range(3)] == [202, 202, 202]
    refused = post(client, limited, 3)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json() == {"detail": "Request rate limit of this API key exceeded; send this batch again later."}
    assert IngestBatch.objects.count() == 3
    assert post(client, other, 4).status_code == 202  # counted per key


def test_keys_without_their_own_limit_get_the_default(client, settings):
    settings.MAILMON_AGENT_RATE_LIMIT = "2/hour"
    _, key = AgentAPIKey.objects.create_key(name="default")
    assert [post(client, key, n).status_code for n in range(3)] == [202, 202, 429]


def test_a_limit_must_be_written_in_limits_notation():
    key, _ = AgentAPIKey.objects.create_key(name="typo")
    key.rate_limit = "lots"
    with pytest.raises(ValidationError, match="is not a rate limit"):
        key.full_clean()
    key.rate_limit = "10 per 5 seconds"
    key.full_clean()


def test_an_admin_sets_a_keys_rate_limit(admin_client):
    key, _ = AgentAPIKey.objects.create_key(name="admin-edited")
    page = admin_client.get(f"/admin/core/agentapikey/{key.pk}/change/")
    assert b'name="rate_limit"' in page.content
    data = {"name": key.name, "allowed_cidrs": "", "rate_limit": "20/second", "_save": "Save"}
    response = admin_client.post(f"/admin/core/agentapikey/{key.pk}/change/", data)
    assert response.status_code == 302, response.content[:2000]
    assert AgentAPIKey.objects.get(pk=key.pk).rate_limit == "20/second"


def test_with_redis_down_the_limit_fails_open(client, settings):
    location = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": location}}
    agent_limits._limiter.cache_clear()
    try:
        _, key = AgentAPIKey.objects.create_key(name="redis-down", rate_limit="1/hour")
        assert [post(client, key, n).status_code for n in range(3)] == [202, 202, 202]
    finally:
        agent_limits._limiter.cache_clear()
