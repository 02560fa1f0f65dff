"""/health, /health/live, /health/detailed and /metrics."""

from __future__ import annotations

import time
from importlib import metadata

import pytest
from prometheus_client.parser import text_string_to_metric_families

from apps.core import heartbeat, metrics
from apps.core.redis import get_redis

pytestmark = pytest.mark.django_db


def test_health_is_200_when_database_redis_worker_and_beat_are_fine(client):
    heartbeat.beat_heartbeat_record()
    response = client.get("/health")
    assert response.status_code == 200, response.json()
    assert response.json()["failing"] == []


def test_health_turns_503_naming_redis_when_redis_is_stopped(client, throwaway_redis):
    heartbeat.beat_heartbeat_record()  # written to the throwaway server
    assert client.get("/health").status_code == 200

    throwaway_redis.terminate()
    throwaway_redis.wait(timeout=10)

    response = client.get("/health")
    body = response.json()
    assert response.status_code == 503
    assert "redis" in body["failing"]
    assert "database" not in body["failing"]
    assert body["checks"]["redis"]["detail"].startswith("unreachable")


def test_metrics_still_answer_when_redis_is_stopped(client, throwaway_redis):
    throwaway_redis.terminate()
    throwaway_redis.wait(timeout=10)
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {
        s.labels.get("component"): s.value
        for family in text_string_to_metric_families(response.content.decode())
        if family.name == "mailmon_component_up"
        for s in family.samples
    }
    assert samples["redis"] == 0 and samples["database"] == 1


def test_health_names_a_missing_worker_and_beat(client):
    body = client.get("/health").json()
    assert set(body["failing"]) == {"worker", "beat"}
    assert "no worker heartbeat" in body["checks"]["worker"]["detail"]


def test_health_names_a_stale_beat(client, settings):
    settings.MAILMON_HEARTBEAT_MAX_AGE = 60
    get_redis().set(heartbeat.BEAT_KEY, time.time() - 300)
    heartbeat.worker_heartbeat_record()
    body = client.get("/health").json()
    assert body["failing"] == ["beat"]
    assert "300s ago" in body["checks"]["beat"]["detail"]


def test_health_live_answers_without_checking_anything(client, throwaway_redis):
    throwaway_redis.terminate()
    throwaway_redis.wait(timeout=10)
    assert client.get("/health/live").json() == {"status": "ok"}


def test_health_detailed_shows_versions_uptime_and_queues_to_staff(viewer_client):
    heartbeat.beat_heartbeat_record()
    body = viewer_client.get("/health/detailed").json()
    assert body["status"] == "ok"
    assert body["versions"]["postgresql"][:2].isdigit()
    assert body["versions"]["redis"] != "unreachable"
    assert body["uptime_seconds"] >= 0
    assert isinstance(body["queues"]["celery"], int)  # the broker answered


def test_health_detailed_is_health_plus_details_and_the_installed_version(client, viewer_client):
    heartbeat.beat_heartbeat_record()
    heartbeat.worker_heartbeat_record()
    short = client.get("/health").json()
    detailed = viewer_client.get("/health/detailed").json()
    assert (detailed["status"], detailed["failing"]) == (short["status"], short["failing"]) == ("ok", [])
    assert detailed["checks"].keys() == short["checks"].keys()
    assert detailed["versions"]["mailmon"] == metadata.version("mailmon")


def test_metrics_parse_as_prometheus_exposition(client):
    metrics.declare_counter("mailmon_test_things_total", "Things counted by the test")
    metrics.counter_inc("mailmon_test_things_total", 3, kind="a")
    metrics.counter_inc("mailmon_test_things_total", kind="a")
    try:
        response = client.get("/metrics")
    finally:
        metrics.COUNTERS.pop("mailmon_test_things_total")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    assert {"mailmon_component_up", "mailmon_queue_depth", "mailmon_uptime_seconds"} <= families.keys()
    counted = [s for s in families["mailmon_test_things"].samples if s.name == "mailmon_test_things_total"]
    assert [(s.labels, s.value) for s in counted] == [({"kind": "a"}, 4.0)]


def test_an_undeclared_counter_is_refused():
    with pytest.raises(KeyError):
        metrics.counter_inc("mailmon_nobody_declared_this_total")


def test_metrics_need_the_bearer_token_when_one_is_configured(client, settings):
    settings.MAILMON_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert list(text_string_to_metric_families(ok.content.decode()))
