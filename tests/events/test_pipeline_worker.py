"""The ingest pipeline with a real Celery worker process: SIGKILL mid-batch, resends."""

from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from apps.events.models import EmailEvent, IngestBatch
from apps.events.tasks import process_inbox
from tests.core.processes import log_tail, start, stop, wait_for

from .test_pipeline import enqueue, flow_total

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOW = datetime.now(UTC).replace(microsecond=0)
BATCHES, PER_BATCH = 12, 500


def events(start_n: int, count: int) -> list[dict]:
    return [
        {
            "event_id": f"kill-{n}",
            "time": (NOW - timedelta(milliseconds=n)).isoformat(),
            "type": ("delivered", "bounced", "deferred")[n % 3],
            "node": f"mta-{n % 4}",
            "to": f"user{n}@example.net",
            "status_code": (250, 550, 421)[n % 3],
            "delay_ms": n,
        }
        for n in range(start_n, start_n + count)
    ]


def start_worker(tmp_path, queue: str, name: str):
    return start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "info", "--concurrency", "1", "-Q", queue,
         "-n", f"{name}@%h", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        tmp_path / f"{name}.log",
    )


def scalar(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def unlocked_inbox_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (SELECT id FROM events_ingestbatch FOR UPDATE SKIP LOCKED) t")
        return cursor.fetchone()[0]


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing_once_restarted(tmp_path):
    total = BATCHES * PER_BATCH
    for b in range(BATCHES):
        enqueue(events(b * PER_BATCH, PER_BATCH))
    queue = f"ingest-test-{uuid.uuid4().hex[:8]}"
    blocker = psycopg.connect(**connection.get_connection_params(), autocommit=False)
    # Holding SHARE on the events table lets the worker lock inbox rows, COPY them into
    # staging and start its INSERT, which then waits: we kill it right there.
    blocker.execute("LOCK TABLE events_emailevent IN SHARE MODE")
    worker = start_worker(tmp_path, queue, "victim")
    try:
        process_inbox.apply_async(queue=queue)
        wait_for(
            lambda: scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'WITH ins AS (INSERT INTO events_emailevent%%'"
            ) == 1,
            timeout=60, what="worker blocked inside its batch transaction", procs=[worker],
        )
        assert unlocked_inbox_rows() < BATCHES  # the worker holds its batch's rows
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        blocker.rollback()
        blocker.close()
        stop(worker)
    # The killed worker's server session notices the lost client and rolls back.
    wait_for(lambda: unlocked_inbox_rows() == BATCHES, timeout=30, what="orphaned transaction rolled back")
    assert EmailEvent.objects.count() == 0
    assert scalar("SELECT coalesce(sum(events), 0) FROM events_ingestbatch") == total

    worker = start_worker(tmp_path, queue, "survivor")
    try:
        process_inbox.apply_async(queue=queue)  # what the beat sweep does after a crash
        wait_for(lambda: not IngestBatch.objects.exists(), timeout=90, what="inbox drained", procs=[worker])
        assert EmailEvent.objects.count() == total
        assert EmailEvent.objects.values("event_id").distinct().count() == total
        assert flow_total() == total

        enqueue(events(0, PER_BATCH))  # a shipper resends a batch it already sent
        process_inbox.apply_async(queue=queue)
        wait_for(lambda: not IngestBatch.objects.exists(), timeout=60, what="resend processed", procs=[worker])
        assert EmailEvent.objects.count() == total
        assert flow_total() == total
    except AssertionError:
        print(log_tail(worker))
        raise
    finally:
        stop(worker)
