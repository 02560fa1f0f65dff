"""What the request metrics cost per request (apps/core/request_metrics.py, RequestMetricsMiddleware).

Run from the repository root: ``.venv/bin/python bench/request_metrics.py``. Prints ONE JSON line
(progress on stderr). Against the Redis the settings name (the embedded one when ``REDIS_URL``
is unset; databases offset by 8, emptied at the end), it times:

* ``in_request_us``: what the middleware adds before the response leaves (timer, noting,
  the route pattern) — the latency a client sees;
* ``record()`` alone — the one pipelined round trip per request, run at the response's close,
  after the body is sent — for a page and for an API request (two more commands: the
  per-minute bucket and its expiry) noting one cache counter: worker time, not client latency;
* whole requests through Django's handler (the test client, in process: no sockets; it calls
  ``close()`` too) with and without the middleware, interleaved batches, on ``/health/live``
  and on an API route that answers 403 without touching PostgreSQL: the worker time a
  request costs in all.

Figures are medians of ``--repeats`` batches of ``--requests``; the machine may be shared, so
the interleaving matters more than any single figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
os.environ.setdefault("MAILMON_REDIS_DB_OFFSET", "8")  # Redis databases of its own, never a portal's

MIDDLEWARE = "apps.core.middleware.RequestMetricsMiddleware"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests (or record calls) per batch")
    parser.add_argument("--repeats", type=int, default=7)
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[request metrics bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def per_call_us(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()
    django.setup()
    from django.conf import settings
    from django.test import Client, override_settings

    from apps.core import request_metrics
    from apps.core.metrics import COUNTERS_KEY
    from apps.core.redis import get_redis

    def record(api: bool) -> None:
        token = request_metrics.start_request()
        request_metrics.note(COUNTERS_KEY, "mailmon_cache_requests_total|cache=bench|result=hit")
        noted = request_metrics.finish_request(token)
        request_metrics.record(method="GET", route="/bench/<int:n>", status=200, seconds=0.004, api=api, noted=noted)

    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from apps.core.middleware import RequestMetricsMiddleware

    answer = HttpResponse(b"ok")
    middleware = RequestMetricsMiddleware(lambda request: answer)
    bare = RequestFactory().get("/api/v1/nodes/mx1.example.net")
    bare.resolver_match = resolve(bare.path_info)

    def in_request() -> None:  # the response is never closed here: no Redis write
        middleware(bare)
        answer._resource_closers.clear()

    with_mw = Client()
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != MIDDLEWARE]):
        without_mw = Client()
        without_mw.get("/health/live")  # the handler loads its middleware on the first request
    paths = {"page": "/health/live", "api": "/api/v1/nodes"}
    for client in (with_mw, without_mw):
        for path in paths.values():
            client.get(path)
    results: dict[str, list[float]] = {}
    for k in range(args.repeats):
        results.setdefault("in_request_us", []).append(per_call_us(in_request, args.requests))
        results.setdefault("record_page_us", []).append(per_call_us(lambda: record(False), args.requests))
        results.setdefault("record_api_us", []).append(per_call_us(lambda: record(True), args.requests))
        for name, path in paths.items():
            for label, client in (("with", with_mw), ("without", without_mw)):
                us = per_call_us(lambda c=client, p=path: c.get(p), args.requests // 4)
                results.setdefault(f"{name}_{label}_us", []).append(us)
        log(f"batch {k}: " + ", ".join(f"{key} {values[-1]:.0f}" for key, values in results.items()))
    medians = {key: round(statistics.median(values), 1) for key, values in results.items()}
    spread = {key: [round(min(v), 1), round(max(v), 1)] for key, v in results.items()}
    figures = {
        "bench": "request_metrics", "requests_per_batch": args.requests, "repeats": args.repeats,
        "redis": get_redis().connection_pool.connection_kwargs.get("path") and "unix socket" or "tcp",
        **medians,
        "overhead_page_us": round(medians["page_with_us"] - medians["page_without_us"], 1),
        "overhead_api_us": round(medians["api_with_us"] - medians["api_without_us"], 1),
        "min_max": spread, "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    get_redis().flushdb()  # its own cache database (the offset above)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
