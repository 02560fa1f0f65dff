"""The global and per-user limits hold with two real Celery worker processes sending chunks at once."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from apps.warmup import tasks
from tests.core.factories import UserFactory
from tests.core.processes import log_tail, start, stop, wait_for

from .factories import PASSWORD, MailboxFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]
GLOBAL_PER_MINUTE, USER_PER_HOUR = 10, 4


def start_worker(tmp_path, name: str):
    return start(
        ["-m", "celery", "-A", "mailmon", "worker", "-l", "info", "--concurrency", "2", "-n", f"{name}@%h",
         "--without-heartbeat", "--without-mingle", "--without-gossip"],
        tmp_path / f"{name}.log",
        MAILMON_WARMUP_GLOBAL_PER_MINUTE=str(GLOBAL_PER_MINUTE),
        MAILMON_WARMUP_USER_PER_HOUR=str(USER_PER_HOUR),
        MAILMON_WARMUP_REPLY_SHARE="0",
    )


def test_two_workers_never_exceed_the_global_and_per_user_limits(tmp_path, smtp_server):
    users = UserFactory.create_batch(3)
    boxes = {user.pk: MailboxFactory.create_batch(3, owner=user, smtp_port=smtp_server.port) for user in users}
    owner_of = {m.username: user_id for user_id, ms in boxes.items() for m in ms}
    workers = [start_worker(tmp_path, "w1"), start_worker(tmp_path, "w2")]
    try:
        wait_for(lambda: all(" ready." in log_tail(w, 100_000) for w in workers), timeout=120,
                 what="both workers ready", procs=workers)
        sends = []
        for user_id, mine in boxes.items():
            others = [m for uid, ms in boxes.items() if uid != user_id for m in ms]
            for n in range(8):  # 8 sends per user: twice what the per-user limit allows
                sends.append([mine[n % 3].pk, others[n % len(others)].pk])
        for start in range(0, len(sends), 2):  # chunks of two: both workers take some
            tasks.send_chunk.delay(sends[start : start + 2])
        wait_for(lambda: len(smtp_server.messages) >= GLOBAL_PER_MINUTE, timeout=120,
                 what="the first minute's sends", procs=workers)
        first = time.monotonic()
        time.sleep(8)  # both workers keep retrying the refused sends meanwhile
        elapsed = time.monotonic() - first + 5
        received = list(smtp_server.messages)
        worker_logs = [log_tail(w, 200_000) for w in workers]
    finally:
        for worker in workers:
            stop(worker)
    per_user = Counter(owner_of[m["login"]] for m in received)
    assert len(received) <= GLOBAL_PER_MINUTE + elapsed * GLOBAL_PER_MINUTE / 60
    assert max(per_user.values()) <= USER_PER_HOUR
    assert sum(per_user.values()) == len(received)
    assert all("warmup.send_chunk" in log and "succeeded" in log for log in worker_logs), "both workers sent"
    assert not any(PASSWORD in log for log in worker_logs)
