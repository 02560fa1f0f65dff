"""Health checks for /health and /health/detailed: each returns (ok, detail); one body builder for both."""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from importlib import metadata

import django
from django.conf import settings
from django.db import connection

from . import heartbeat
from .redis import get_redis

STARTED_AT = time.time()
TIMESERIES_REPORT_KEY = "mailmon:timeseries:report"
logger = logging.getLogger(__name__)

# Apps register extra queue depths here in their AppConfig.ready() (name -> callable returning an int).
QUEUE_DEPTHS: dict[str, Callable[[], int]] = {}


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:
        return False, f"unreachable: {exc.__class__.__name__}"


def check_redis() -> tuple[bool, str]:
    try:
        get_redis().ping()
        return True, "ok"
    except Exception as exc:
        return False, f"unreachable: {exc.__class__.__name__}"


def _check_heartbeat(key: str, what: str) -> tuple[bool, str]:
    try:
        age = heartbeat.heartbeat_age(key)
    except Exception:
        return False, "unknown (Redis unreachable)"
    if age is None:
        return False, f"no {what} heartbeat yet"
    if age > settings.MAILMON_HEARTBEAT_MAX_AGE:
        return False, f"last {what} heartbeat {age:.0f}s ago"
    return True, f"ok ({age:.0f}s ago)"


def check_worker() -> tuple[bool, str]:
    return _check_heartbeat(heartbeat.WORKER_KEY, "worker")


def check_beat() -> tuple[bool, str]:
    return _check_heartbeat(heartbeat.BEAT_KEY, "beat")


def run_checks() -> dict[str, tuple[bool, str]]:
    results = {"database": check_database(), "redis": check_redis()}
    if results["redis"][0]:
        results["worker"] = check_worker()
        results["beat"] = check_beat()
    else:
        results["worker"] = results["beat"] = (False, "unknown (Redis unreachable)")
    return results


def queue_depths() -> dict[str, int | None]:
    depths: dict[str, int | None] = {}
    try:
        depths["celery"] = int(get_redis_broker().llen("celery"))
    except Exception:
        depths["celery"] = None
    for name, provider in QUEUE_DEPTHS.items():
        try:
            depths[name] = int(provider())
        except Exception:
            depths[name] = None
    return depths


def get_redis_broker():
    import redis

    url = settings.CELERY_BROKER_URL.replace("redis+socket://", "unix://", 1)
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def mailmon_version() -> str:
    """The installed package's version (pyproject.toml), not a copy of it."""
    try:
        return metadata.version("mailmon")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def versions() -> dict[str, str]:
    found = {"mailmon": mailmon_version(), "python": platform.python_version(), "django": django.get_version()}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            found["postgresql"] = cursor.fetchone()[0]
    except Exception:
        found["postgresql"] = "unreachable"
    try:
        found["redis"] = get_redis().info("server").get("redis_version", "?")
    except Exception:
        found["redis"] = "unreachable"
    return found


def timeseries_report_store(report: dict) -> None:
    """Keep the hourly time-series maintenance report for /health/detailed (written by the task)."""
    try:
        get_redis().set(TIMESERIES_REPORT_KEY, json.dumps(report), ex=3 * 3600)
    except Exception as exc:  # the maintenance itself has been done; only the report is lost
        logger.warning("time-series report not stored: %s", exc)


def check_timeseries() -> dict:
    """Table shapes and TimescaleDB policy jobs, as last seen by the hourly maintenance task."""
    try:
        raw = get_redis().get(TIMESERIES_REPORT_KEY)
    except Exception:
        return {"ok": False, "detail": "unknown (Redis unreachable)"}
    if raw is None:
        return {"ok": True, "detail": "maintenance has not run in the last 3 hours"}
    report = json.loads(raw)
    rerun = report.get("policy_jobs_rerun", [])
    failed = [job for job in rerun if job["ran"] != "ok"]
    if failed:
        detail = f"{len(failed)} TimescaleDB policy job(s) fail, also when mailmon runs them"
    elif rerun:
        detail = (f"{len(rerun)} TimescaleDB policy job(s) fail in TimescaleDB's background worker; "
                  "mailmon ran them itself")
    else:
        detail = "ok"
    return {"ok": not failed, "detail": detail, **report}


def uptime_seconds() -> float:
    return round(time.time() - STARTED_AT, 1)


def health_body(*, detailed: bool = False) -> tuple[dict, int]:
    """The body and status of /health (and, ``detailed``, of /health/detailed): 200 or 503 naming what fails."""
    results = run_checks()
    failing = [name for name, (ok, _) in results.items() if not ok]
    body: dict = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()},
    }
    if detailed:
        body |= {
            "versions": versions(),
            "uptime_seconds": uptime_seconds(),
            "queues": queue_depths(),
            "timeseries": check_timeseries(),
            "environment": settings.MAILMON_ENV,
        }
    return body, 503 if failing else 200
