"""Warmup engine benchmark: planning one cycle at 100,000 mailboxes, and end-to-end sends.

Run from the repository root with ``DATABASE_URL`` pointing at a PostgreSQL server (the
benchmark creates and drops its own database, ``--db``): ``.venv/bin/python bench/warmup.py``.
Prints one JSON line.

1. **Planning**: 1,000 users × 100 mailboxes (six providers) are inserted; one cycle is planned
   at 12:00 UTC with the counters of a day that ran on pace until then (``services.cycle_plan``:
   load senders and participants, pace, ring, Redis pair claims, the day-counter upsert) and
   grouped into per-minute batches (``cycle_batches``). Wall time and the process's peak RSS
   (whole process, Django included) are reported; targets 5 s and 500 MB. Publishing the
   batches to the broker is timed separately (``enqueue_s``). The global and per-user limits
   are raised for this part: with the default 200/min a cycle may only plan 2,500 sends.
2. **End to end**: ``--e2e-sends`` send tasks between 200 mailboxes of 20 users go through
   ``--workers`` real Celery worker processes (prefork, ``--concurrency`` each) to a real
   aiosmtpd SMTP sink with AUTH on 127.0.0.1 (its own process); they are enqueued the way a
   cycle does it (``dispatch_batch`` tasks fanning out into one ``send`` task per message, all
   due at once); the clock stops when the sink has every message and the send log every row.
   Target ≥ 200 sends/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

PROVIDERS = ["gmail", "microsoft", "yahoo", "apple", "zoho", "corp.example"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="mailmon_bench_warmup")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--e2e-sends", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads"])
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[warmup bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def admin_execute(sql: str) -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql)


def create_mailboxes(users: int, per_user: int, *, port: int = 2525, first_user: int = 0) -> None:
    """Users and mailboxes in two INSERT … SELECT statements (one encrypted password for all)."""
    from django.db import connection

    from apps.core.fields import encrypt

    token = encrypt("bench-password")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (username, password, is_superuser, first_name, last_name, email, is_staff, "
            "is_active, date_joined) SELECT 'bench' || g, '!', false, '', '', '', false, true, now() "
            "FROM generate_series(%s, %s) g",
            [first_user, first_user + users - 1],
        )
        cursor.execute(
            "INSERT INTO warmup_warmupmailbox (owner_id, address, smtp_host, smtp_port, smtp_security, username, "
            "password, imap_host, imap_port, imap_security, imap_username, imap_password, enabled, daily_target, "
            "ramp_start, ramp_increase, ramp_ceiling, started_on, provider, status, status_reason, last_error, "
            "created_at, updated_at) "
            "SELECT u.id, 'box' || m || '@' || u.username || '.example.test', '127.0.0.1', %s, 'none', "
            "'box' || m || '@' || u.username || '.example.test', %s, '', NULL, 'tls', '', '', true, 30, 30, 0, 30, "
            "current_date, (%s::text[])[1 + (u.id * %s + m) %% %s], 'active', '', '', now(), now() "
            "FROM auth_user u CROSS JOIN generate_series(1, %s) m WHERE u.username LIKE 'bench%%' "
            "AND substr(u.username, 6)::int BETWEEN %s AND %s",
            [port, token, PROVIDERS, per_user, len(PROVIDERS), per_user, first_user, first_user + users - 1],
        )


def day_on_pace(noon: dt.datetime) -> None:
    """Counters of a day that ran on pace until ``noon``: 15 of 30 sent by every mailbox."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO warmup_warmupday (mailbox_id, day, target, seq, planned, sent, failed, inbox, spam) "
            "SELECT id, %s, 30, 15, 15, 15, 0, 0, 0 FROM warmup_warmupmailbox",
            [noon.date()],
        )


class PeakRss:
    def __init__(self) -> None:
        import psutil

        self.process, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def __enter__(self):
        self.peak = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def bench_planning(args) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from apps.core.redis import get_redis
    from apps.warmup import services, tasks

    settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE = settings.MAILMON_WARMUP_GLOBAL_PER_HOUR = 10**9
    settings.MAILMON_WARMUP_USER_PER_HOUR = 10**9
    log(f"creating {args.users} users × {args.per_user} mailboxes")
    started = time.monotonic()
    create_mailboxes(args.users, args.per_user)
    noon = dt.datetime.combine(timezone.now().date(), dt.time(12), tzinfo=dt.UTC)
    day_on_pace(noon)
    setup_s = time.monotonic() - started
    get_redis().delete(*(get_redis().keys("warmup:pairs:*") or ["-"]))
    log("planning one cycle")
    with PeakRss() as rss:
        started = time.monotonic()
        cycle = services.cycle_plan(now=noon)
        plan_s = time.monotonic() - started
        batches = services.cycle_batches(cycle.sends)
        total_s = time.monotonic() - started
    queue = "bench-warmup-enqueue"
    started = time.monotonic()
    for countdown, entries in batches:
        tasks.dispatch_batch.apply_async(args=[entries], countdown=countdown, queue=queue)
    enqueue_s = time.monotonic() - started
    get_redis_broker_purge(queue)
    return {
        "mailboxes": args.users * args.per_user,
        "setup_s": round(setup_s, 2),
        "cycle_sends": len(cycle.sends),
        "cycle_batches": len(batches),
        "plan_s": round(plan_s, 3),
        "plan_and_batch_s": round(total_s, 3),
        "plan_peak_rss_mb": round(rss.peak / 2**20, 1),
        "enqueue_s": round(enqueue_s, 3),
        "meets_plan_target": total_s <= 5 and rss.peak <= 500 * 2**20,
    }


def get_redis_broker_purge(queue: str) -> None:
    from mailmon.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


def worker_env(db_url: str, extra: dict) -> dict:
    env = {**os.environ, "DATABASE_URL": db_url, "DATABASE_CONN_MAX_AGE": "600", **extra}
    return env


def _sink_process(port: int, ready, count) -> None:
    """The SMTP sink in its own process: its asyncio loop must not share a GIL with the bench."""
    import signal

    from tests.warmup.conftest import start_sink

    logging.getLogger("mail.log").setLevel(logging.ERROR)
    class Counted(list):
        def append(self, message) -> None:
            with count.get_lock():
                count.value += 1

    sink, controller = start_sink(port)
    sink.messages = Counted()  # count only: the bench does not read the messages
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


def bench_e2e(args, db_url: str) -> dict:
    import multiprocessing

    from django.db import connection

    from apps.core.redis import get_redis
    from apps.warmup.models import WarmupMailbox, WarmupSend
    from apps.warmup.planner import PlannedSend
    from apps.warmup.services import cycle_batches
    from apps.warmup.tasks import dispatch_batch, send
    from mailmon.celery import app
    from tests.core.processes import free_port
    from tests.warmup.factories import PASSWORD

    port, ready, count = free_port(), multiprocessing.Event(), multiprocessing.Value("i", 0)
    sink = multiprocessing.Process(target=_sink_process, args=(port, ready, count), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        create_mailboxes(20, 10, port=port, first_user=10**6)
        boxes = list(WarmupMailbox.objects.filter(smtp_port=port).values_list("id", flat=True))
        WarmupMailbox.objects.filter(pk__in=boxes).update(password=PASSWORD)
        connection.close()
        get_redis().flushdb()
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
        limits = {"MAILMON_WARMUP_GLOBAL_PER_MINUTE": "1000000", "MAILMON_WARMUP_GLOBAL_PER_HOUR": "1000000",
                  "MAILMON_WARMUP_USER_PER_HOUR": "1000000", "MAILMON_WARMUP_PROVIDER_PER_HOUR": "1000000",
                  "MAILMON_WARMUP_REPLY_SHARE": "0"}
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "mailmon", "worker", "-l", "warning", "--concurrency",
                 str(args.concurrency), "--pool", args.pool, "-n", f"bench{n}@%h", "--without-heartbeat",
                 "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=worker_env(db_url, limits), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            for n in range(args.workers)
        ]
        try:
            send.delay(sender_id=boxes[0], recipient_id=boxes[1])  # the workers are up once this arrives
            deadline = time.monotonic() + 120
            while not count.value and time.monotonic() < deadline:
                time.sleep(0.1)
            before = count.value
            n = len(boxes)
            # The production path: dispatch batches fan out into one send task each (all due now).
            plan = [PlannedSend(boxes[i % n], boxes[(i * 7 + 1) % n], i, 0.0) for i in range(args.e2e_sends)]
            batches = [entries[j : j + 100] for _, entries in cycle_batches(plan) for j in range(0, len(entries), 100)]
            log(f"sending {args.e2e_sends} messages through {args.workers} workers ({len(batches)} batches)")
            started = time.monotonic()
            for entries in batches:
                dispatch_batch.delay(entries)
            deadline = time.monotonic() + 600
            while count.value - before < args.e2e_sends and time.monotonic() < deadline and sink.is_alive():
                time.sleep(0.05)
            received_s = time.monotonic() - started
            while WarmupSend.objects.count() < args.e2e_sends + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            logged_s = time.monotonic() - started
            received = count.value - before
        finally:
            for worker in workers:
                os.killpg(worker.pid, 15)
            for worker in workers:
                worker.wait(30)
        return {
            "e2e_sends": args.e2e_sends,
            "e2e_received": received,
            "e2e_s": round(logged_s, 2),
            "e2e_sends_per_s": round(received / logged_s, 1),
            "e2e_smtp_received_per_s": round(received / received_s, 1),
            "e2e_workers": args.workers,
            "e2e_concurrency": args.concurrency,
            "e2e_pool": args.pool,
            "meets_e2e_target": received / logged_s >= 200,
        }
    finally:
        sink.terminate()
        sink.join(10)


def main() -> None:
    args = parse_args()
    # A SIGTERM (e.g. `timeout`) must still run the finally blocks that stop the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import django
    from django.conf import settings

    base_url = os.environ.get("DATABASE_URL") or settings.DATABASE_URL
    db_url = urlparse(base_url)._replace(path=f"/{args.db}").geturl()
    settings.DATABASES["default"]["NAME"] = args.db
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None
    admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    import psutil
    from django.core.management import call_command
    from django.db import connection

    result: dict = {"bench": "warmup", "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    try:
        log("migrating")
        call_command("migrate", verbosity=0, interactive=False)
        result |= bench_planning(args)
        result |= bench_e2e(args, db_url)
        result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
        result["rss_mb_end"] = round(psutil.Process().memory_info().rss / 2**20, 1)
    finally:
        connection.close()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
