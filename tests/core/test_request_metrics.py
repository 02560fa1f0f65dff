"""Request latency per route pattern on /metrics, fleet-wide over processes; cache hits and misses."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.core.request_metrics import BUCKETS, api_latency, quantile
from tests.core.processes import wait_for
from tests.events.served import request, served

URL_POOLS = "/api/v1/mta/pools"


def _samples(client: Client, name: str) -> list:
    text = client.get("/metrics").content.decode()
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def _counts(client: Client, **labels: str) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in _samples(client, "mailmon_http_request_duration_seconds_count")
        if all(s.labels[k] == v for k, v in labels.items())
    }


@pytest.mark.django_db
def test_requests_are_counted_under_their_route_pattern_never_their_path(client):
    for hostname in ("mx1.example.net", "mx2.example.net", "mx3.example.net"):
        client.get(f"/api/v1/nodes/{hostname}")
    client.get("/no/such/page/1")
    client.get("/no/such/page/2")
    client.generic("BREW", "/api/v1/nodes")
    assert _counts(client, route="/api/v1/nodes/<path:hostname>") == {
        ("GET", "/api/v1/nodes/<path:hostname>", "403"): 3}
    assert sum(_counts(client, route="unmatched").values()) == 2
    assert _counts(client, method="OTHER") == {("OTHER", "/api/v1/nodes", "403"): 1}


@pytest.mark.django_db
def test_the_histogram_is_cumulative_and_sums_the_seconds(client):
    client.get("/health/live")
    client.get("/health/live")
    buckets = [s for s in _samples(client, "mailmon_http_request_duration_seconds_bucket")
               if s.labels["route"] == "/health/live"]
    assert [s.labels["le"] for s in buckets] == [*map(str, BUCKETS), "+Inf"]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets) and buckets[-1].value == 2
    (total,) = [s.value for s in _samples(client, "mailmon_http_request_duration_seconds_sum")
                if s.labels["route"] == "/health/live"]
    assert 0 < total < 2 * BUCKETS[-1]


def test_the_quantile_interpolates_inside_its_bucket_like_histogram_quantile():
    counts = [0] * (len(BUCKETS) + 1)
    counts[BUCKETS.index(0.1)] = 90  # (0.05, 0.1]
    counts[BUCKETS.index(1.5)] = 10  # (1.0, 1.5]
    assert quantile(counts, 0.5) == pytest.approx(0.05 + 0.05 * 50 / 90)
    assert quantile(counts, 0.95) == pytest.approx(1.0 + 0.5 * 5 / 10)
    assert quantile([0] * len(counts), 0.95) is None
    assert quantile([0] * len(BUCKETS) + [3], 0.95) == BUCKETS[-1]  # past the last bound


@pytest.mark.django_db
def test_mta_pools_cache_hits_misses_and_304s_are_counted(client, agent_headers):
    first = client.get(URL_POOLS, **agent_headers)  # built: a miss
    client.get(URL_POOLS, **agent_headers)  # from the cache: a hit
    assert client.get(URL_POOLS, HTTP_IF_NONE_MATCH=first["ETag"], **agent_headers).status_code == 304
    cache = {(s.labels["cache"], s.labels["result"]): s.value for s in _samples(client, "mailmon_cache_requests_total")}
    assert cache[("mta-pools", "miss")] == 1 and cache[("mta-pools", "hit")] == 1
    assert _counts(client, route=URL_POOLS) == {("GET", URL_POOLS, "200"): 2, ("GET", URL_POOLS, "304"): 1}


@pytest.mark.django_db(transaction=True)
def test_gunicorn_workers_and_daphne_add_to_one_histogram_and_one_api_p95(tmp_path):
    def counted() -> int:
        return api_latency(timezone.now(), [300])[300].requests

    with served("gunicorn", tmp_path, workers=2) as wsgi, served("daphne", tmp_path) as asgi:
        before = counted()
        for port in (wsgi, wsgi, wsgi, wsgi, asgi, asgi, asgi):
            assert request(port, "GET", "/api/v1/nodes").status in (401, 403)
        # Each server writes once it has sent the response (at its close): wait for the last ones.
        wait_for(lambda: counted() - before >= 7, timeout=10, what="7 API requests counted")
        latency = api_latency(timezone.now(), [300])[300]
    assert latency.requests - before == 7 and latency.p95 is not None
    assert sum(_counts(Client(), route="/api/v1/nodes").values()) == 7


@pytest.fixture
def unreachable_redis_writer(settings, tmp_path):
    """The request-metrics writer pointed at a socket nobody listens on (the rest of Redis unchanged)."""
    from apps.core import request_metrics

    location = settings.CACHES["default"]["LOCATION"]
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"],
                                                      "LOCATION": f"unix://{tmp_path}/none.sock"}}
    request_metrics._writer.cache_clear()
    yield
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": location}}
    request_metrics._writer.cache_clear()
    request_metrics._writes["paused_until"] = 0.0


@pytest.mark.django_db
def test_requests_are_answered_when_redis_is_unreachable_and_writes_pause(client, unreachable_redis_writer, caplog):
    from apps.core import request_metrics

    for _ in range(3):
        assert client.get("/health/live").status_code == 200
    assert request_metrics._writes["paused_until"] > 0  # one failed write, then none for a while
    assert [r.getMessage() for r in caplog.records if r.name == request_metrics.__name__] == [
        "request metrics not recorded: Redis unavailable"]
