"""Prometheus exposition for /metrics.

Counters live in Redis so that every process (web workers, Celery workers)
adds to the same figure (during a request the increment rides the request's own
round trip: ``request_metrics.note``); so does the request-latency histogram
(``request_metrics.py``). Gauges (health, queue depths, uptime) are read at
scrape time. Nothing here keeps per-process state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from . import health, request_metrics
from .redis import get_redis

COUNTERS_KEY = "mailmon:counters"
# name -> help text; a counter must be declared before it is incremented.
COUNTERS: dict[str, str] = {}


def declare_counter(name: str, help_text: str) -> None:
    COUNTERS[name] = help_text


STACK_RESTARTS = "mailmon_stack_restarts_total"
declare_counter(STACK_RESTARTS, "Processes run_stack restarted after they died, by process")
CACHE_REQUESTS = "mailmon_cache_requests_total"
declare_counter(CACHE_REQUESTS, "Reads of the portal's cache (apps/core/cache.py), by cache and hit/miss")


# Gauges that module apps add at scrape time (core imports no module app): register a
# function returning metric families, e.g. in the app's ``ready()``.
COLLECTORS: list[Callable[[], Iterable[Metric]]] = []


def register_collector(collect: Callable[[], Iterable[Metric]]) -> None:
    if collect not in COLLECTORS:
        COLLECTORS.append(collect)


def counter_inc(name: str, amount: int = 1, **labels: str) -> None:
    if name not in COUNTERS:
        raise KeyError(f"counter {name!r} is not declared")
    field = name + "".join(f"|{k}={v}" for k, v in sorted(labels.items()))
    if not request_metrics.note(COUNTERS_KEY, field, amount):
        get_redis().hincrby(COUNTERS_KEY, field, amount)


def _parse_field(field: str) -> tuple[str, dict[str, str]]:
    name, *pairs = field.split("|")
    return name, dict(pair.split("=", 1) for pair in pairs)


def collect_counters() -> Iterable[Metric]:
    families: dict[str, CounterMetricFamily] = {}
    raw = get_redis().hgetall(COUNTERS_KEY)
    samples = [(_parse_field(k.decode()), int(v)) for k, v in raw.items()]
    for name, help_text in COUNTERS.items():
        label_names = sorted({key for (n, labels), _ in samples if n == name for key in labels})
        family = CounterMetricFamily(name, help_text, labels=label_names)
        families[name] = family
        if not label_names and not any(n == name for (n, _), _ in samples):
            family.add_metric([], 0)
    for (name, labels), value in samples:
        if name in families:
            family = families[name]
            family.add_metric([labels.get(k, "") for k in family._labelnames], value)
    return families.values()


def collect_health() -> Iterable[Metric]:
    up = GaugeMetricFamily(
        "mailmon_component_up", "Whether a component passes its health check", labels=["component"]
    )
    for component, (ok, _detail) in health.run_checks().items():
        up.add_metric([component], 1 if ok else 0)
    yield up
    depth = GaugeMetricFamily("mailmon_queue_depth", "Items waiting in a queue", labels=["queue"])
    for queue, value in health.queue_depths().items():
        if value is not None:
            depth.add_metric([queue], value)
    yield depth
    yield GaugeMetricFamily(
        "mailmon_uptime_seconds", "Seconds since this process started", value=health.uptime_seconds()
    )


class _Collector:
    def collect(self) -> Iterable[Metric]:
        yield from collect_health()
        with contextlib.suppress(Exception):  # Redis down: mailmon_component_up says so
            yield from collect_counters()
        with contextlib.suppress(Exception):
            yield from request_metrics.collect()
        for collect in COLLECTORS:
            with contextlib.suppress(Exception):  # database down: mailmon_component_up says so
                yield from collect()


def render() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)
