"""The real Celery worker and beat against the test database: /health turns 200 on their heartbeats."""

from __future__ import annotations

import re

import pytest

from apps.core import heartbeat
from apps.core.redis import get_redis

from . import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HEARTBEAT_RAN = re.compile(r"Task core\.heartbeat\[[0-9a-f-]+\] succeeded")


def _health(client) -> dict:
    return client.get("/health").json()


def test_health_is_200_with_a_real_worker_and_beat_running(client, tmp_path):
    get_redis().delete(heartbeat.WORKER_KEY, heartbeat.BEAT_KEY)
    assert set(_health(client)["failing"]) == {"worker", "beat"}

    worker = processes.start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "info", "--concurrency", "1", "-n", "test-worker@%h",
         "--without-mingle", "--without-gossip"],
        tmp_path / "worker.log",
    )
    beat = processes.start(
        ["-m", "celery", "-A", "mailmon", "beat", "-l", "info", "-s", str(tmp_path / "beat-schedule")],
        tmp_path / "beat.log",
    )
    try:
        processes.wait_for(
            lambda: _health(client)["failing"] == [],
            timeout=90,
            what="worker and beat heartbeats",
            procs=[worker, beat],
        )
        response = client.get("/health")
        assert response.status_code == 200
        assert response.json()["checks"]["beat"]["ok"]
        # And the scheduled path end to end: beat sends a task, the worker runs it.
        processes.wait_for(
            lambda: HEARTBEAT_RAN.search(processes.log_tail(worker, 100000)) is not None,
            timeout=60,
            what="the worker running beat's heartbeat task",
            procs=[worker, beat],
        )
    finally:
        processes.stop(beat)
        processes.stop(worker)


def test_run_stack_serves_the_portal_and_stops_every_process_on_ctrl_c(client, tmp_path):
    """``make serve``: daphne + worker + beat (+ ingest) from one command; SIGINT stops them all."""
    import signal
    import urllib.request

    import psutil

    port = processes.free_port()
    command = ["manage.py", "run_stack", "--port", str(port), "--concurrency", "1"]
    stack = processes.start(command, tmp_path / "stack.log")
    children: list[psutil.Process] = []
    try:
        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as response:
                    return response.status == 200
            except OSError:
                return False

        processes.wait_for(serving, timeout=120, what="run_stack /health 200", procs=[stack], interval=1)
        children = psutil.Process(stack.pid).children(recursive=True)
        assert len(children) >= 3
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
    finally:
        processes.stop(stack)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"still running after Ctrl-C: {[p.cmdline() for p in alive]}"
    assert "mailmon stopped." in processes.log_tail(stack)
    assert "WorkerLostError" not in processes.log_tail(stack, 100000)


def test_run_stack_restarts_a_killed_process_and_counts_it_in_metrics(client, tmp_path):
    """kill -9 daphne (the web process): it comes back, the rest kept running, /metrics counts it."""
    import signal
    import urllib.request

    import psutil

    port = processes.free_port()
    command = ["manage.py", "run_stack", "--port", str(port), "--concurrency", "1"]
    stack = processes.start(command, tmp_path / "stack.log")

    def live() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=3) as response:
                return response.status == 200
        except OSError:
            return False

    def web_pid() -> int | None:
        for child in psutil.Process(stack.pid).children():
            try:
                if "mailmon.daphne_server" in child.cmdline():
                    return child.pid
            except psutil.Error:  # the killed one, a zombie until run_stack reaps it
                continue
        return None

    try:
        processes.wait_for(live, timeout=120, what="run_stack web", procs=[stack], interval=1)
        others = {c.pid for c in psutil.Process(stack.pid).children()} - {web_pid()}
        first = web_pid()
        psutil.Process(first).send_signal(signal.SIGKILL)
        processes.wait_for(lambda: web_pid() not in (None, first) and live(), timeout=60,
                           what="web restarted", procs=[stack], interval=0.5)
        assert stack.poll() is None
        assert others <= {c.pid for c in psutil.Process(stack.pid).children()}  # nothing else was restarted
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert 'mailmon_stack_restarts_total{process="web"} 1.0' in metrics
        assert "web exited with -9; restarting in 1 s" in processes.log_tail(stack)
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=30) == 0
    finally:
        processes.stop(stack)
