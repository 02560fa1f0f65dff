"""End-to-end ingest benchmark: HTTP POST -> inbox -> Celery -> events_emailevent.

Run from the repository root: ``.venv/bin/python bench/ingest.py`` (``make bench``).
Prints ONE JSON line.

What it does, on a throwaway database ``mailmon_bench_ingest`` of the configured
PostgreSQL server (dropped afterwards) and Redis databases 10-12:

1. migrates the database, creates an agent key, starts gunicorn (sync workers on
   ``mailmon.wsgi``, the production ingest server) and Celery workers as real processes;
2. pre-encodes ``--events`` realistic events as JSON arrays of ``--batch`` events;
3. warms up, then lets ``--clients`` concurrent client threads POST every batch
   (retrying 429/503 as a shipper does), and stops the clock when the inbox is empty,
   i.e. when every accepted event is committed in ``events_emailevent`` (and its rollups);
4. measures, in the same run, the raw PostgreSQL ceiling: COPY of the same number of
   rows into a day-partitioned table with a BRIN index, and prints both with their ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

BENCH_DB = "mailmon_bench_ingest"
REDIS_OFFSET = "10"
TARGET = 50_000

DOMAINS = [("gmail.com", 40), ("outlook.com", 20), ("yahoo.com", 12), ("icloud.com", 8), ("gmx.de", 5),
           ("web.de", 5), ("example.org", 5), ("corp.example", 5)]  # fmt: skip
OUTCOMES = [
    ("delivered", 250, "2.0.0", "250 2.0.0 OK  1764064800 a1b2c3d4e5f6 - gsmtp", 86),
    ("deferred", 421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail "
     "originating from your IP address. a1b2c3 - gsmtp", 5),
    ("deferred", 421, "4.7.0", "421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred due to "
     "unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", 2),
    ("bounced", 550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. "
     "Please try double-checking the recipient's email address. a1b2c3 - gsmtp", 4),
    ("rejected", 550, "5.7.1", "550 5.7.1 Unfortunately, messages from [198.51.100.7] weren't sent. "
     "Please contact your Internet service provider since part of their network is on our block list "
     "(S3150).", 2),
    ("complained", None, None, None, 1),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--celery-workers", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true", help="Do not drop the benchmark database.")
    parser.add_argument("--setup-sql", default="", help="SQL run on the benchmark database after migrate, "
                        "e.g. DROP INDEX … to measure what an index costs against the same code.")
    return parser.parse_args()


# ----------------------------------------------------------------------------- setup


def bench_database_url(base: str) -> str:
    parsed = urlparse(base)
    return urlunparse(parsed._replace(path="/" + BENCH_DB))


def admin_connect():
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    return psycopg.connect(**params, autocommit=True)


def recreate_database() -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")


def drop_database() -> None:
    with admin_connect() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def child_env(database_url: str, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "MAILMON_REDIS_DB_OFFSET": REDIS_OFFSET, "DATABASE_CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING",
           "DEBUG": "0", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env["DJANGO_SETTINGS_MODULE"] = "mailmon.settings"  # never the test settings, even when run from a test
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not come up")


# ---------------------------------------------------------------------------- traffic


def make_bodies(total: int, batch: int, run: str) -> list[bytes]:
    import msgspec

    rng = random.Random(42)
    now = datetime.now(UTC)
    domains = [d for d, _ in DOMAINS]
    domain_weights = [w for _, w in DOMAINS]
    outcome_weights = [o[-1] for o in OUTCOMES]
    ips = [f"198.51.100.{i}" for i in range(1, 65)]
    bodies = []
    for start in range(0, total, batch):
        events = []
        for n in range(start, min(start + batch, total)):
            kind, code, enhanced, response, _ = rng.choices(OUTCOMES, outcome_weights)[0]
            domain = rng.choices(domains, domain_weights)[0]
            event = {
                "event_id": f"{run}-{n}",
                "time": (now - timedelta(milliseconds=rng.randrange(3_000_000))).isoformat(),
                "type": kind,
                "node": f"mta-{n % 20}",
                "sending_ip": ips[n % len(ips)],
                "message_id": f"<{run}.{n}@mail.shop.example>",
                "from": "news@shop.example",
                "to": f"user{rng.randrange(10_000_000)}@{domain}",
                "mx": f"mx.{domain}",
                "status_code": code,
                "enhanced_status": enhanced,
                "response": response,
                "delay_ms": rng.randrange(50, 20_000) if kind == "delivered" else None,
                "size": rng.randrange(2_000, 80_000),
                "account": f"user{n % 50}",
            }
            events.append(event)
        bodies.append(msgspec.json.encode(events))
    return bodies


class Clients:
    """``count`` threads posting bodies from a shared list, retrying 429/503 like a shipper."""

    def __init__(self, port: int, key: str, bodies: list[bytes], count: int):
        self.port, self.key, self.bodies, self.count = port, key, bodies, count
        self.next = 0
        self.lock = threading.Lock()
        self.accepted = 0
        self.retries = 0
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        threads = [threading.Thread(target=self._loop) for _ in range(self.count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _take(self) -> bytes | None:
        with self.lock:
            if self.next >= len(self.bodies):
                return None
            self.next += 1
            return self.bodies[self.next - 1]

    def _loop(self) -> None:
        headers = {"Authorization": f"Api-Key {self.key}", "Content-Type": "application/json"}
        while (body := self._take()) is not None:
            for _attempt in range(200):
                started = time.perf_counter()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                try:
                    conn.request("POST", "/api/v1/events/ingest", body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                if response.status == 202:
                    with self.lock:
                        self.accepted += json.loads(data)["accepted"]
                        self.latencies.append(time.perf_counter() - started)
                    break
                if response.status in (429, 503):
                    with self.lock:
                        self.retries += 1
                    time.sleep(0.05)  # a real shipper honours Retry-After; the bench measures capacity
                    continue
                with self.lock:
                    self.errors.append(f"{response.status}: {data[:200]!r}")
                break


# ------------------------------------------------------------------------ CPU accounting

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def process_tree(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[0]
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return tree


def cpu_seconds(pids: set[int]) -> dict[int, float]:
    return {pid: stat[1] for pid in pids if (stat := _stat(pid)) is not None}


class CpuMeter(threading.Thread):
    """CPU seconds spent by each component between start() and stop().

    Wall-clock rates depend on whatever else runs on the machine; CPU per event does
    much less, so the JSON line carries both.  Processes are re-listed every 0.2 s and
    their last reading kept, so a backend that disconnects mid-run still counts.
    """

    def __init__(self, web: subprocess.Popen, worker: subprocess.Popen, params: dict):
        super().__init__(daemon=True)
        self.web, self.worker, self.params = web, worker, params
        self.stopping = threading.Event()
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}

    def _groups(self, conn) -> dict[str, set[int]]:
        rows = conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [BENCH_DB],
        ).fetchall()
        return {
            "http": process_tree(self.web.pid),
            "celery": process_tree(self.worker.pid),
            "postgres": {pid for pid, kind in rows if kind == "client backend"},
            # Autovacuum of the tables the run writes (insert-only partitions, the inbox's
            # deleted rows): deferred cost of the same events, shown apart.
            "autovacuum": {pid for pid, kind in rows if kind != "client backend"},
        }

    def _read(self, conn, *, initial: bool) -> None:
        for name, pids in self._groups(conn).items():
            for pid, seconds in cpu_seconds(pids).items():
                key = (name, pid)
                # A process first seen after the start began at 0 s within the run.
                self.first.setdefault(key, seconds if initial else 0.0)
                self.last[key] = seconds

    def run(self) -> None:
        import psycopg

        with psycopg.connect(**self.params, autocommit=True) as conn:
            self.self_before = time.process_time()
            self._read(conn, initial=True)
            self.ready.set()
            while not self.stopping.wait(0.2):
                self._read(conn, initial=False)
            self._read(conn, initial=False)

    def begin(self) -> None:
        self.ready = threading.Event()
        self.start()
        self.ready.wait(10)

    def end(self) -> dict[str, float]:
        self.stopping.set()
        self.join(10)
        spent = {"http": 0.0, "celery": 0.0, "postgres": 0.0, "autovacuum": 0.0}
        for (name, pid), seconds in self.last.items():
            spent[name] += seconds - self.first[(name, pid)]
        spent["clients"] = time.process_time() - self.self_before
        return spent


class WaitSampler(threading.Thread):
    """Samples what the benchmark's PostgreSQL backends are doing (pg_stat_activity).

    Shares of "cpu" (running), lock waits and IO waits tell whether the run was bound by
    CPU, by row locks between workers or by the disk.
    """

    def __init__(self, params: dict):
        super().__init__(daemon=True)
        self.params, self.stopping, self.samples = params, threading.Event(), {}

    def run(self) -> None:
        import psycopg

        with psycopg.connect(**self.params, autocommit=True) as conn:
            while not self.stopping.wait(0.05):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'cpu') FROM pg_stat_activity "
                    "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()", [BENCH_DB],
                ).fetchall()  # fmt: skip
                for (what,) in rows:
                    self.samples[what] = self.samples.get(what, 0) + 1

    def shares(self) -> dict[str, float]:
        total = sum(self.samples.values()) or 1
        top = sorted(self.samples.items(), key=lambda item: -item[1])[:6]
        return {what: round(count / total, 2) for what, count in top}


def inbox_empty(conn) -> bool:
    return conn.execute("SELECT NOT EXISTS (SELECT 1 FROM events_ingestbatch)").fetchone()[0]


def wait_drained(conn, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not inbox_empty(conn):
        if time.monotonic() > deadline:
            raise SystemExit("inbox did not drain")
        time.sleep(0.02)


# ------------------------------------------------------------------------ COPY ceiling


def copy_ceiling(conn, bodies: list[bytes], *, all_indexes: bool = False) -> float:
    """Rows/s of a plain COPY of the same events into a day-partitioned table with BRIN.

    With ``all_indexes`` the table also gets every index of events_emailevent (its
    unique key and btrees): the ceiling that table's shape allows any writer.
    """
    import msgspec

    columns = ("time", "event_id", "type", "node_id", "sending_ip", "message_id", "sender", "sender_domain",
               "recipient", "recipient_domain", "mx_host", "status_code", "enhanced_status", "response",
               "delay_ms", "bounce_category", "size", "account")  # fmt: skip

    def text(value) -> str:
        return "\\N" if value is None else str(value)

    chunks = []
    for body in bodies:
        lines = []
        for e in msgspec.json.decode(body):
            row = (e["time"], e["event_id"], e["type"], 1, e["sending_ip"], e["message_id"], e["from"],
                   "shop.example", e["to"], e["to"].rpartition("@")[2], e["mx"], e["status_code"],
                   e["enhanced_status"] or "", e["response"] or "", e["delay_ms"], "", e["size"],
                   e["account"])  # fmt: skip
            lines.append("\t".join(text(v) for v in row))
        chunks.append(("\n".join(lines) + "\n").encode())
    today = datetime.now(UTC).date()
    conn.execute("DROP TABLE IF EXISTS copy_ceiling")
    conn.execute("CREATE TABLE copy_ceiling (LIKE events_emailevent INCLUDING DEFAULTS INCLUDING IDENTITY) "
        "PARTITION BY RANGE (time)")
    for offset in (-1, 0, 1):
        day = today + timedelta(days=offset)
        conn.execute(
            f"CREATE TABLE copy_ceiling_{offset + 1} PARTITION OF copy_ceiling "
            f"FOR VALUES FROM ('{day}') TO ('{day + timedelta(days=1)}')"
        )
    conn.execute("CREATE INDEX ON copy_ceiling USING brin (time)")
    if all_indexes:
        conn.execute("ALTER TABLE copy_ceiling ADD PRIMARY KEY (id, time)")
        conn.execute("ALTER TABLE copy_ceiling ADD UNIQUE (event_id, time)")
        for key in ("node_id, time", "recipient_domain, time", "message_id"):
            conn.execute(f"CREATE INDEX ON copy_ceiling ({key})")
    conn.commit()
    rows = sum(chunk.count(b"\n") for chunk in chunks)
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(f"COPY copy_ceiling ({', '.join(columns)}) FROM STDIN") as copy:
        for chunk in chunks:
            copy.write(chunk)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE copy_ceiling")
    conn.commit()
    return rows / elapsed


# ------------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()  # an entry point: the embedded servers when DATABASE_URL/REDIS_URL are unset
    django.setup()
    import psycopg
    from django.conf import settings
    from django.db import connection

    recreate_database()
    database_url = bench_database_url(settings.DATABASE_URL)
    env = child_env(database_url, settings.REDIS_URL)
    logs = Path(settings.VAR_DIR) / "bench"
    logs.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    connection.close()
    connection.settings_dict["NAME"] = BENCH_DB
    if args.setup_sql:
        with connection.cursor() as cursor:
            cursor.execute(args.setup_sql)
    from apps.core.models import AgentAPIKey

    _, key = AgentAPIKey.objects.create_key(name="bench", allowed_cidrs=["127.0.0.0/8"])
    connection.close()

    run = uuid.uuid4().hex[:8]
    warmup = make_bodies(20 * args.batch, args.batch, run + "w")
    bodies = make_bodies(args.events, args.batch, run)
    port = free_port()
    web = spawn(["-m", "gunicorn", "-w", str(args.web_workers), "-b", f"127.0.0.1:{port}", "--backlog", "256",
                 "--timeout", "120", "mailmon.wsgi:application"], env, logs / "gunicorn.log")  # fmt: skip
    worker = spawn(["-m", "celery", "-A", "mailmon", "worker", "-l", "warning", "--concurrency",
                    str(args.celery_workers), "-n", f"bench-{run}@%h", "--without-gossip", "--without-mingle",
                    "--without-heartbeat"], env, logs / "celery.log")  # fmt: skip
    params = connection.get_connection_params()
    params["dbname"] = BENCH_DB
    watch = psycopg.connect(**params, autocommit=True)
    try:
        wait_http(port, web)
        Clients(port, key, warmup, args.clients).run()
        wait_drained(watch)
        base = watch.execute("SELECT count(*) FROM events_emailevent").fetchone()[0]

        clients = Clients(port, key, bodies, args.clients)
        meter = CpuMeter(web, worker, params)
        sampler = WaitSampler(params)
        sampler.start()
        meter.begin()
        started = time.perf_counter()
        clients.run()
        http_done = time.perf_counter()
        wait_drained(watch)
        finished = time.perf_counter()
        cpu = meter.end()
        sampler.stopping.set()
        stored = watch.execute("SELECT count(*) FROM events_emailevent").fetchone()[0] - base
    finally:
        stop(web)
        stop(worker)
    ceiling_conn = psycopg.connect(**params)
    ceiling = copy_ceiling(ceiling_conn, bodies)
    ceiling_indexed = copy_ceiling(ceiling_conn, bodies, all_indexes=True)
    ceiling_conn.close()
    watch.close()
    if not args.keep_db:
        connection.close()
        drop_database()

    elapsed = finished - started
    rate = stored / elapsed
    latencies = sorted(clients.latencies)
    cpu_us = {name: round(seconds / max(stored, 1) * 1e6, 1) for name, seconds in cpu.items()}
    server_us = cpu_us["http"] + cpu_us["celery"] + cpu_us["postgres"]
    print(json.dumps({
        "bench": "ingest",
        "events": args.events,
        "stored": stored,
        "accepted": clients.accepted,
        "batch": args.batch,
        "clients": args.clients,
        "web_workers": args.web_workers,
        "celery_workers": args.celery_workers,
        "setup_sql": args.setup_sql or None,
        "cpus": os.cpu_count(),
        "seconds": round(elapsed, 2),
        "events_per_s": round(rate),
        "http_accept_events_per_s": round(clients.accepted / (http_done - started)),
        "drain_after_http_s": round(finished - http_done, 2),
        "post_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "post_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1) if latencies else None,
        "retries_429_503": clients.retries,
        "errors": clients.errors[:5],
        "copy_ceiling_rows_per_s": round(ceiling),
        "ratio_to_copy_ceiling": round(rate / ceiling, 3),
        "copy_with_events_indexes_rows_per_s": round(ceiling_indexed),
        "cpu_us_per_event": cpu_us,
        "postgres_active_backends_by_wait": sampler.shares(),
        # What the server side (gunicorn + Celery + PostgreSQL backends) could do with the
        # machine's cores to itself, from its CPU cost per event: an estimate, not a measurement.
        "cpu_bound_estimate_events_per_s": round((os.cpu_count() or 1) * 1e6 / server_us) if server_us else None,
        "load_average_1m": round(os.getloadavg()[0], 1),
        "target_events_per_s": TARGET,
        "target_met": rate >= TARGET and stored == args.events,
    }))


if __name__ == "__main__":
    main()
