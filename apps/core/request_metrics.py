"""Request latency of the portal, shared by every process that serves it (daphne, gunicorn workers).

Each request served by Django costs ONE pipelined Redis round trip (:func:`record`), made once the
response has been sent (``RequestMetricsMiddleware`` hangs it on the response's close), so the
client never waits for it. It adds to:

* ``mailmon:http:duration`` — the Prometheus histogram
  ``mailmon_http_request_duration_seconds{method,route,status}``: one hash field per
  (method, route pattern, status, bucket) plus the sum, cumulative since Redis started.
  ``route`` is the URL pattern that matched (``/api/v1/nodes/<str:hostname>``), never the
  raw path, so the label set stays bounded; unmatched paths share ``route="unmatched"``.
* ``mailmon:http:api:<minute>`` — for ``/api/…`` requests, the same buckets per wall-clock
  minute (expiring after a day), from which :func:`api_latency` answers the fleet-wide
  p95 over any window (the ``portal.api_p95`` alert source) in one round trip.
* the Redis counters the request moved on the way (``apps.core.metrics.counter_inc``, e.g.
  ``mailmon_cache_requests_total`` from the cache backend): noted by :func:`note` while it is
  served, they ride the same round trip instead of costing one each.

The same fixed buckets serve both, so the alert and Grafana's ``histogram_quantile`` over
the histogram interpolate the same way.

Why not django-prometheus: its metrics live in each process (prometheus_client's default
registry; several processes need PROMETHEUS_MULTIPROC_DIR, a directory shared on one host,
with files to clean after dead workers), while ``/metrics`` here is built from Redis so any
process answers for all, across hosts too; and it keeps cumulative counters only, when the
alert evaluator needs the p95 of a recent window. prometheus_client still does the exposition.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings
from prometheus_client.core import HistogramMetricFamily, Metric

from .redis import get_redis

HISTOGRAM = "mailmon_http_request_duration_seconds"
HIST_KEY = "mailmon:http:duration"
API_PREFIX = "/api/"
API_MINUTE_KEY = "mailmon:http:api:{minute}"
API_MINUTE_TTL = 86400 + 120  # a rule's window reads at most the last day
# Upper bounds in seconds (Prometheus `le`), finer around the default rule's 1 s; +Inf follows.
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
_SEP = "\t"  # route patterns never hold a tab (a regex route may hold "|")

log = logging.getLogger(__name__)
# A request's write gives up after this long, and the process stops writing for RETRY_AFTER seconds
# after a failure: a hung Redis costs one request per process now and then, not every request 2 s.
WRITE_TIMEOUT = 0.25
RETRY_AFTER = 5.0
_writes = {"paused_until": 0.0}

# Hash increments noted while a request is served ((key, field) -> amount), written with its round trip.
_noted: contextvars.ContextVar[Counter | None] = contextvars.ContextVar("mailmon_request_noted", default=None)


def bucket_index(seconds: float) -> int:
    """The bucket of a duration: the first bound ≥ it (``len(BUCKETS)`` is +Inf)."""
    return bisect_left(BUCKETS, seconds)


def quantile(counts: list[int], q: float) -> float | None:
    """The q-quantile of per-bucket counts over BUCKETS (+Inf last), interpolated linearly inside
    its bucket like Prometheus's ``histogram_quantile``; past the last bound it answers that bound."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            if i == len(BUCKETS):
                return BUCKETS[-1]
            lower = BUCKETS[i - 1] if i else 0.0
            return lower + (BUCKETS[i] - lower) * (rank - seen) / count
        seen += count
    return BUCKETS[-1]


# --- writing: one round trip per request ---


def start_request() -> contextvars.Token:
    return _noted.set(Counter())


def note(key: str, field: str, amount: int = 1) -> bool:
    """HINCRBY ``key`` ``field`` with the current request's round trip; False outside a request
    (Celery, commands: the caller writes it itself)."""
    noted = _noted.get()
    if noted is None:
        return False
    noted[(key, field)] += amount
    return True


def finish_request(token: contextvars.Token) -> Counter:
    """What the request noted; later calls of :func:`note` in this context write at once again."""
    noted = _noted.get() or Counter()
    _noted.reset(token)
    return noted


def record(*, method: str, route: str, status: int, seconds: float, api: bool, noted: Counter | None = None,
           now: float | None = None) -> None:
    """Count one served request (and what it noted) in one pipelined round trip; never raises."""
    if time.monotonic() < _writes["paused_until"]:
        return
    index = bucket_index(seconds)
    prefix = _SEP.join((method if method in METHODS else "OTHER", route, str(status), ""))
    try:
        pipe = _writer().pipeline(transaction=False)
        pipe.hincrby(HIST_KEY, prefix + str(index), 1)
        pipe.hincrby(HIST_KEY, prefix + "sum", round(seconds * 1_000_000))
        if api:
            key = API_MINUTE_KEY.format(minute=int((now or time.time()) // 60))
            pipe.hincrby(key, str(index), 1)
            pipe.expire(key, API_MINUTE_TTL)
        for (key, field), amount in (noted or {}).items():
            pipe.hincrby(key, field, amount)
        pipe.execute()
    except redis.RedisError:  # /health says Redis is down; the request was served anyway
        if not _writes["paused_until"]:
            log.warning("request metrics not recorded: Redis unavailable", exc_info=True)
        _writes["paused_until"] = time.monotonic() + RETRY_AFTER
        return
    if _writes["paused_until"]:
        log.warning("request metrics recorded again")
        _writes["paused_until"] = 0.0


@lru_cache(maxsize=1)
def _writer() -> redis.Redis:
    url = settings.CACHES["default"]["LOCATION"]
    return redis.Redis.from_url(url, socket_timeout=WRITE_TIMEOUT, socket_connect_timeout=WRITE_TIMEOUT)


def route_of(request) -> str:
    """The URL pattern that served ``request`` (resolved here when a middleware answered first)."""
    match = request.resolver_match
    if match is None:
        from django.urls import Resolver404, resolve

        try:
            match = resolve(request.path_info)
        except Resolver404:
            return UNMATCHED
    return "/" + match.route


# --- reading ---


@dataclass(frozen=True, slots=True)
class Latency:
    requests: int
    p95: float | None  # seconds


def api_latency(now: dt.datetime, windows: Iterable[int]) -> dict[int, Latency]:
    """API requests and their p95 over each window (its whole minutes and the current one), every
    process together: one round trip for all of them."""
    windows = sorted(set(windows))
    if not windows:
        return {}
    last = int(now.timestamp() // 60)
    first = {w: int((now.timestamp() - w) // 60) + 1 for w in windows}
    pipe = get_redis().pipeline(transaction=False)
    minutes = range(min(first.values()), last + 1)
    for minute in minutes:
        pipe.hgetall(API_MINUTE_KEY.format(minute=minute))
    per_minute = dict(zip(minutes, pipe.execute(), strict=True))
    out = {}
    for window in windows:
        counts = [0] * (len(BUCKETS) + 1)
        for minute in range(first[window], last + 1):
            for index, count in per_minute[minute].items():
                counts[int(index)] += int(count)
        out[window] = Latency(sum(counts), quantile(counts, 0.95))
    return out


def collect() -> Iterable[Metric]:
    """``mailmon_http_request_duration_seconds`` from the shared hash."""
    series: dict[tuple[str, str, str], list] = {}
    for field, value in get_redis().hgetall(HIST_KEY).items():
        method, route, status, part = field.decode().split(_SEP)
        counts_sum = series.setdefault((method, route, status), [[0] * (len(BUCKETS) + 1), 0])
        if part == "sum":
            counts_sum[1] = int(value)
        else:
            counts_sum[0][int(part)] = int(value)
    family = HistogramMetricFamily(
        HISTOGRAM, "Time Django took to answer a request, by method, route pattern and status",
        labels=["method", "route", "status"],
    )
    for labels, (counts, micros) in sorted(series.items()):
        cumulative, buckets = 0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric(list(labels), buckets, micros / 1_000_000)
    yield family
