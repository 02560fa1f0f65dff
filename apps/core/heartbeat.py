"""Heartbeats of the Celery worker and beat, kept in Redis and read by /health."""

from __future__ import annotations

import time

from .redis import get_redis

BEAT_KEY = "mailmon:heartbeat:beat"
WORKER_KEY = "mailmon:heartbeat:worker"


def beat_heartbeat_record() -> None:
    """Called by the beat-scheduled heartbeat task (so a worker ran what beat scheduled)."""
    now = time.time()
    pipe = get_redis().pipeline()
    pipe.set(BEAT_KEY, now, ex=3600)
    pipe.set(WORKER_KEY, now, ex=3600)
    pipe.execute()


def beat_tick_record() -> None:
    """Called by beat's scheduler on every tick (apps/core/beat_scheduler.py)."""
    get_redis().set(BEAT_KEY, time.time(), ex=3600)


def worker_heartbeat_record() -> None:
    get_redis().set(WORKER_KEY, time.time(), ex=3600)


def heartbeat_age(key: str) -> float | None:
    value = get_redis().get(key)
    return None if value is None else max(0.0, time.time() - float(value))
