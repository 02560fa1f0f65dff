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
2. **End to end**: ``--e2e-sends`` sends between ``--e2e-mailboxes`` mailboxes (10 per user) go
   through ``--workers`` real Celery worker processes (``--pool``, ``--concurrency`` each) to a
   real aiosmtpd SMTP sink with AUTH on 127.0.0.1 (its own process); they are enqueued the way
   a cycle does it (per-minute ``dispatch_batch`` tasks of 1,000, all due at once, fanning out
   into chunks); the clock stops when the sink has every message and the send log every row.
   With as many mailboxes as sends (the default) every sender sends once, as in a real cycle
   where 100,000 mailboxes send 1–3 times in 15 minutes: no SMTP session carries two messages.
   Target ≥ 200 sends/s. ``--ab OTHER_CHECKOUT`` runs the same sends with workers from another
   checkout too (e.g. the main branch: ``old``), interleaved, ``--repeats`` times each; every
   run reports where the CPU went (workers, sink, this database's PostgreSQL backends, Redis,
   the bench, and the rest of the machine: ``others``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
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
    parser.add_argument("--e2e-mailboxes", type=int, default=3000)
    parser.add_argument("--ab", metavar="CHECKOUT", help="also run the workers of this checkout (A/B)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--skip-planning", action="store_true")
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
            "imap_error, created_at, updated_at) "
            "SELECT u.id, 'box' || m || '@' || u.username || '.example.test', '127.0.0.1', %s, 'none', "
            "'box' || m || '@' || u.username || '.example.test', %s, '', NULL, 'tls', '', '', true, 30, 30, 0, 30, "
            "current_date, (%s::text[])[1 + (u.id * %s + m) %% %s], 'active', '', '', '', now(), now() "
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


def _cpu(pids) -> dict[int, float]:
    """CPU seconds (user + system) so far of each process still alive."""
    import psutil

    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        seconds[pid] = times.user + times.system
    return seconds


class CpuMeter:
    """Where the CPU went during a run: the workers (process trees), the sink, Redis, this bench
    process, PostgreSQL (the server but the live backends of other databases; Celery closes a
    worker's connection after every task, so our backends come and go and are counted through
    the postmaster's exited children, along with other sessions' short-lived ones), and the
    rest of the machine (``others``: other sessions' tests and benches)."""

    def __init__(self, workers: list, sink_pid: int) -> None:
        import psutil

        self.psutil = psutil
        self.groups = {"sink": lambda: _cpu([sink_pid]), "bench": lambda: _cpu([os.getpid()]),
                       "workers": lambda: _cpu([p.pid for w in workers for p in self._tree(w.pid)]),
                       "postgres": self._postgres, "redis": lambda: _cpu(self._redis())}

    def _tree(self, pid: int) -> list:
        try:
            root = self.psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        except self.psutil.Error:
            return []

    def _other_backends(self) -> set[int]:
        """Live backends of other databases (other sessions' work: counted in ``others``)."""
        import psycopg
        from django.db import connection

        params = connection.get_connection_params()
        params["dbname"] = "postgres"
        with psycopg.connect(**params, autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> %s",
                                [connection.settings_dict["NAME"]])
            return {pid for (pid,) in rows}

    def _postgres(self) -> dict:
        """Every postgres process but the live backends of other databases, and for each
        postmaster its exited children (backends that ended: ours, and other sessions' short ones)."""
        seconds: dict = {}
        others = self._other_backends()
        for proc in self.psutil.process_iter(["name", "ppid", "cpu_times"]):
            if proc.info["name"] not in ("postgres", "postmaster") or proc.info["cpu_times"] is None:
                continue
            times = proc.info["cpu_times"]
            if proc.pid in others:  # not ours; if it ends, its whole life lands in the postmaster's children
                seconds[("other", proc.pid)] = times.user + times.system
                continue
            seconds[proc.pid] = times.user + times.system
            try:
                parent = self.psutil.Process(proc.info["ppid"]).name()
            except self.psutil.Error:
                parent = ""
            if parent not in ("postgres", "postmaster"):
                seconds[("children", proc.pid)] = times.children_user + times.children_system
        return seconds

    def _redis(self) -> list[int]:
        from django.conf import settings

        where = urlparse(settings.REDIS_URL)
        wanted = where.path if where.scheme == "unix" else f":{where.port or 6379}"
        return [p.pid for p in self.psutil.process_iter(["name", "cmdline"])
                if "redis-server" in (p.info["name"] or "") and wanted in " ".join(p.info["cmdline"] or [])]

    def snapshot(self) -> tuple[dict, float]:
        total = self.psutil.cpu_times()
        return ({name: seconds() for name, seconds in self.groups.items()},
                sum(total) - total.idle - getattr(total, "iowait", 0))

    @staticmethod
    def spent(before: tuple[dict, float], after: tuple[dict, float]) -> dict[str, float]:
        result = {}
        for name, now in after[0].items():
            then = before[0].get(name, {})
            spent = sum(cpu - then.get(key, 0.0) for key, cpu in now.items() if not _other(key))
            # another database's backend that ended meanwhile: its time before the run is not ours
            spent -= sum(cpu for key, cpu in then.items() if _other(key) and key not in now)
            result[name] = round(spent, 2)
        result["machine"] = round(after[1] - before[1], 2)
        result["others"] = round(result["machine"] - sum(v for k, v in result.items() if k != "machine"), 2)
        return result


def _other(key) -> bool:
    return isinstance(key, tuple) and key[0] == "other"


def start_workers(args, tree: Path, db_url: str, logs: Path) -> list[subprocess.Popen]:
    from django.conf import settings

    limits = {"MAILMON_WARMUP_GLOBAL_PER_MINUTE": "1000000", "MAILMON_WARMUP_GLOBAL_PER_HOUR": "1000000",
              "MAILMON_WARMUP_USER_PER_HOUR": "1000000", "MAILMON_WARMUP_PROVIDER_PER_HOUR": "1000000",
              "MAILMON_WARMUP_REPLY_SHARE": "0"}
    env = {**os.environ, "DATABASE_URL": db_url, "DATABASE_CONN_MAX_AGE": "600", "REDIS_URL": settings.REDIS_URL,
           # the other tree's var/ holds other keys: both trees must read the bench's secrets
           "MAILMON_FIELD_KEYS": ",".join(settings.MAILMON_FIELD_KEYS), **limits}
    workers = []
    for n in range(args.workers):
        with open(logs / f"worker{n}.log", "wb") as log_file:  # the child keeps its own descriptor
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "mailmon", "worker", "-l", "warning", "--concurrency",
                 str(args.concurrency), "--pool", args.pool, "-n", f"bench{n}@%h", "--without-heartbeat",
                 "--without-mingle", "--without-gossip"],
                cwd=tree, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
            ))
    return workers


def e2e_run(args, tree: Path, db_url: str, boxes: list[int], sink, count) -> dict:
    """One end-to-end run with workers from ``tree`` (this checkout, or another one for A/B)."""
    from apps.core.redis import get_redis
    from apps.warmup.models import WarmupSend
    from apps.warmup.planner import PlannedSend
    from apps.warmup.services import cycle_batches
    from apps.warmup.tasks import dispatch_batch, send
    from mailmon.celery import app

    get_redis().flushdb()  # limiter buckets and day counters of earlier runs
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    logs = Path(tempfile.mkdtemp(prefix="warmup-bench-"))
    workers = start_workers(args, tree, db_url, logs)
    try:
        before = count.value
        for sender, recipient in zip(boxes[:4], boxes[4:8], strict=True):  # every worker is up and connected
            send.delay(sender_id=sender, recipient_id=recipient)
        deadline = time.monotonic() + 120
        while count.value < before + 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        before, logged_before = count.value, WarmupSend.objects.count()
        n = len(boxes)
        # The production path: a cycle's per-minute dispatch batches (all due now).
        plan = [PlannedSend(boxes[i % n], boxes[(i * 7 + 1) % n], i, 0.0) for i in range(args.e2e_sends)]
        batches = [entries for _, entries in cycle_batches(plan)]
        meter = CpuMeter(workers, sink.pid)
        cpu_before = meter.snapshot()
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        for entries in batches:
            dispatch_batch.delay(entries)
        deadline = time.monotonic() + 600
        while count.value - before < args.e2e_sends and time.monotonic() < deadline and sink.is_alive():
            time.sleep(0.05)
        received_s = time.monotonic() - started
        while WarmupSend.objects.count() - logged_before < args.e2e_sends and time.monotonic() < deadline:
            time.sleep(0.05)
        logged_s = time.monotonic() - started
        cpu = CpuMeter.spent(cpu_before, meter.snapshot())
        received = count.value - before
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
        for worker in workers:
            worker.wait(30)
        if count.value - before < args.e2e_sends:  # something went wrong: show what the workers said
            for path in sorted(logs.glob("*.log")):
                log(f"{path.name} (last 3,000 characters):\n{path.read_text(errors='replace')[-3000:]}")
        shutil.rmtree(logs, ignore_errors=True)
    return {"sends_per_s": round(received / logged_s, 1), "smtp_received_per_s": round(received / received_s, 1),
            "received": received, "s": round(logged_s, 2), "load_1m": [round(load_before, 2),
                                                                     round(os.getloadavg()[0], 2)],
            "cpu_s": cpu,
            # workers + sink + Redis per send (PostgreSQL's share is not separable from other sessions')
            "cpu_ms_per_send": round(1000 * (cpu["workers"] + cpu["sink"] + cpu["redis"]) / max(1, received), 2),
            "postgres_ms_per_send": round(1000 * cpu["postgres"] / max(1, received), 2)}


def bench_e2e(args, db_url: str) -> dict:
    import multiprocessing

    from django.db import connection

    from apps.warmup.models import WarmupMailbox
    from tests.core.processes import free_port
    from tests.warmup.factories import PASSWORD

    port, ready, count = free_port(), multiprocessing.Event(), multiprocessing.Value("i", 0)
    sink = multiprocessing.Process(target=_sink_process, args=(port, ready, count), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        users = max(1, args.e2e_mailboxes // 10)
        create_mailboxes(users, 10, port=port, first_user=10**6)
        boxes = list(WarmupMailbox.objects.filter(smtp_port=port).values_list("id", flat=True))
        # one password for all, and quotas no run reaches (each run starts with fresh limits)
        WarmupMailbox.objects.filter(pk__in=boxes).update(password=PASSWORD, daily_target=10**6)
        connection.close()
        variants = [("new", ROOT)] if not args.ab else [("old", Path(args.ab).resolve()), ("new", ROOT)]
        runs: dict[str, list[dict]] = {name: [] for name, _ in variants}
        for repeat in range(args.repeats):
            for name, tree in variants if repeat % 2 == 0 else variants[::-1]:  # interleaved, order alternating
                log(f"run {repeat + 1}/{args.repeats} {name} ({tree}): {args.e2e_sends} sends from {len(boxes)} "
                    f"mailboxes, {args.workers} workers × {args.pool} {args.concurrency}")
                runs[name].append(e2e_run(args, tree, db_url, boxes, sink, count))
                log(f"  {runs[name][-1]['sends_per_s']} sends/s, cpu {runs[name][-1]['cpu_s']}")
        result = {"e2e_sends": args.e2e_sends, "e2e_mailboxes": len(boxes), "e2e_workers": args.workers,
                  "e2e_concurrency": args.concurrency, "e2e_pool": args.pool, "e2e_runs": runs}
        for name, items in runs.items():
            rates = sorted(r["sends_per_s"] for r in items)
            result[f"e2e_{name}_sends_per_s"] = rates[len(rates) // 2]  # median
            result[f"e2e_{name}_range"] = [rates[0], rates[-1]]
            for figure in ("cpu_ms_per_send", "postgres_ms_per_send"):
                values = sorted(r[figure] for r in items)
                result[f"e2e_{name}_{figure}"] = values[len(values) // 2]
        result["e2e_sends_per_s"] = result["e2e_new_sends_per_s"]
        result["meets_e2e_target"] = result["e2e_sends_per_s"] >= 200
        return result
    finally:
        sink.terminate()
        sink.join(10)


def main() -> None:
    args = parse_args()
    # A SIGTERM (e.g. `timeout`) must still run the finally blocks that stop the workers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import django
    from django.conf import settings

    from mailmon import embedded

    embedded.start()  # Redis (and PostgreSQL) when their URLs are unset: the workers get the URLs

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
        if not args.skip_planning:
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
