"""The ingest worker's storage transaction alone: inbox -> events_emailevent + rollups.

Run from the repository root: ``.venv/bin/python bench/store.py``.  Prints ONE JSON line.

``bench/ingest.py`` measures the whole pipeline (HTTP, inbox, Celery, storage) and on a
small machine its rate moves ±12 % from run to run with whatever else runs.  This
script isolates the part a schema or SQL change touches: it fills the inbox of a
throwaway database ``mailmon_bench_store`` with ``--events`` events (the same events
as bench/ingest.py, through the API's own ``ingest_prepare``/``ingest_batch_create``),
then drains it in this process with ``ingest_batches_store`` — the function the Celery
worker calls — and reads CPU times from /proc.  It repeats that ``--rounds`` times on
the growing tables and reports medians (and the mean, since costs such as a GIN
pending-list merge land in some rounds only):

* ``pg_cpu_us_per_event``: CPU of the worker's PostgreSQL backend per stored event, the
  figure that bounds ingest on a loaded server. At the end of each drain every GIN
  pending list is merged inside the measured time (``--no-clean-gin`` to skip), so
  the whole cost of a GIN index counts, however its pending list is sized;
* ``pg_server_cpu_us_per_event``: CPU of the whole server over the drain and
  ``--settle`` seconds after it (autovacuum, checkpointer, walwriter included);
* wall µs per event, in total and per statement kind.

``--setup-sql`` runs SQL on the benchmark database after ``migrate`` and before the
first round (``DROP INDEX …``, ``SET …`` for the worker's session), to measure a schema
or setting against the same code. Figures: docs/architecture.md, "Search indexes and
ingest".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

BENCH_DB = "mailmon_bench_store"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="Events per round.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="Events per API batch (inbox row).")
    parser.add_argument("--settle", type=float, default=5.0, help="Seconds after each drain whose server CPU counts.")
    parser.add_argument(
        "--clean-gin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Merge every GIN pending list at the end of each drain, inside the measured time.",
    )
    parser.add_argument("--keep-db", action="store_true", help="Do not drop the benchmark database.")
    parser.add_argument("--setup-sql", default="", help="SQL run on the benchmark database after migrate.")
    return parser.parse_args()


def _server_cpu(postmaster: int) -> float:
    """CPU seconds of the whole PostgreSQL server so far: its live processes, plus the
    children it has reaped (autovacuum workers come and go), from the postmaster's cutime."""
    from ingest import _stat

    live = sum(stat[1] for entry in Path("/proc").iterdir()
               if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[0] == postmaster)  # fmt: skip
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    return live + sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # its own and reaped children's


def _kind(sql: str) -> str:
    words = sql.lstrip().split(None, 3)
    head = " ".join(words[:3]).upper()
    if head.startswith("WITH INS") or "INSERT INTO EVENTS_EMAILEVENT" in sql.upper()[:200]:
        return "insert_events"
    if head.startswith("WITH SRC") or "W_FLOW_TOTAL" in sql.upper():
        return "rollups"
    return words[0].lower() if words else "?"


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()  # an entry point: the embedded servers when DATABASE_URL/REDIS_URL are unset
    django.setup()
    from django.conf import settings
    from django.db import connection
    from ingest import admin_connect

    with admin_connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    url = urlunparse(urlparse(settings.DATABASE_URL)._replace(path="/" + BENCH_DB))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "mailmon.settings"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    default_name = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = BENCH_DB
    try:
        result = run(args)
    finally:
        connection.close()
        connection.settings_dict["NAME"] = default_name
        if not args.keep_db:
            with admin_connect() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    print(json.dumps(result))


def run(args: argparse.Namespace) -> dict:
    from django.db import connection
    from ingest import _stat, make_bodies

    from apps.events.services import inbox, storage
    from apps.events.wire import parse_batch

    inbox._dispatch_processing = lambda: None  # nothing else drains this inbox
    if args.setup_sql:
        with connection.cursor() as cursor:
            cursor.execute(args.setup_sql)
    timings: dict[str, float] = defaultdict(float)

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[_kind(sql)] += time.perf_counter() - started

    rounds = []
    for number in range(args.rounds):
        for body in make_bodies(args.events, args.batch, f"{uuid.uuid4().hex[:8]}r{number}"):
            batch = inbox.ingest_prepare(events=parse_batch(body, "application/json").events)
            inbox.ingest_batch_create(batch=batch)
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")  # the same WAL state at every round's start
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        timings.clear()
        postmaster, cpu = _stat(pid)
        server, started, stored = _server_cpu(postmaster), time.perf_counter(), 0
        with connection.execute_wrapper(timed):
            while (result := storage.ingest_batches_store()) is not None:
                stored += result.stored
        if args.clean_gin:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT sum(gin_clean_pending_list(c.oid)) FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
                    "WHERE a.amname = 'gin' AND c.relkind = 'i'"
                )
        wall, pg = time.perf_counter() - started, _stat(pid)[1] - cpu
        # Autovacuum and the checkpointer work for the same events (and the GIN index's
        # pending list may be merged by either the backend or autovacuum): count them too,
        # over the drain and the seconds after it that they take to settle.
        time.sleep(args.settle)
        server = _server_cpu(postmaster) - server
        if stored != args.events:
            raise SystemExit(f"round {number}: stored {stored} of {args.events} events")
        per_kind = {k: round(v / stored * 1e6, 1) for k, v in sorted(timings.items(), key=lambda kv: -kv[1])}
        rounds.append(
            {"pg_us": pg / stored * 1e6, "server_us": server / stored * 1e6, "wall_us": wall / stored * 1e6,
             "kinds": per_kind}
        )  # fmt: skip
    kinds = {k: round(statistics.median(r["kinds"].get(k, 0.0) for r in rounds), 1) for k in rounds[0]["kinds"]}
    return {
        "bench": "store",
        "events_per_round": args.events,
        "rounds": args.rounds,
        "batch_events": args.batch,
        "setup_sql": args.setup_sql,
        "clean_gin": args.clean_gin,
        "pg_cpu_us_per_event": round(statistics.median(r["pg_us"] for r in rounds), 1),
        "pg_cpu_us_per_event_mean": round(statistics.fmean(r["pg_us"] for r in rounds), 1),
        "pg_cpu_us_per_event_rounds": [round(r["pg_us"], 1) for r in rounds],
        "pg_server_cpu_us_per_event": round(statistics.median(r["server_us"] for r in rounds), 1),
        "pg_server_cpu_us_per_event_rounds": [round(r["server_us"], 1) for r in rounds],
        "wall_us_per_event": round(statistics.median(r["wall_us"] for r in rounds), 1),
        "wall_us_per_event_by_statement": kinds,
    }


if __name__ == "__main__":
    main()
