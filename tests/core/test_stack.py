"""The real Celery worker and beat against the test database: /health turns 200 on their heartbeats."""

from __future__ import annotations

import pytest

from apps.core import heartbeat
from apps.core.redis import get_redis

from . import processes

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


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
    finally:
        processes.stop(beat)
        processes.stop(worker)
    assert "core.heartbeat" in processes.log_tail(beat, 20000)  # beat really sent the heartbeat task
