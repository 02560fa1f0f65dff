"""Node metrics benchmark: p95 latency of a node's metrics over 30 days of 15-second reports.

Run from the repository root: ``.venv/bin/python bench/node_metrics.py`` (``make bench``).
Prints ONE JSON line (progress goes to stderr).

On a throwaway database ``mailmon_bench_nodes`` (``--db`` to choose another) of the
configured PostgreSQL server (created, then dropped unless --keep-db), it migrates, creates
``--nodes`` nodes and loads one report per node every 15 s over the last ``--days`` days
(172,800 rows per node for 30 days; one ``INSERT … SELECT … FROM generate_series`` per
day), ANALYZEs, then times ``--repeat`` times per preset range: the selector
(``apps.nodes.selectors.node_metrics``), ``GET /api/v1/nodes/{hostname}/metrics`` and the
node page's Performance tab through Django's test client as a logged-in viewer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

BENCH_DB = "mailmon_bench_nodes"
TARGET_MS = 250.0
RANGES = ("1h", "24h", "7d", "30d")

DAY_SQL = """INSERT INTO {table} (time, node_id, cpu_percent, memory_percent, swap_percent, disks, net_rx_bytes,
  net_tx_bytes, load1, load5, load15, queue_size, services)
SELECT t, n.id, 20 + 30 * random(), 50 + 10 * random(), 1.0,
  jsonb_build_object('/', jsonb_build_object('used_percent', 60 + 5 * random()),
                     '/var/mail', jsonb_build_object('used_percent', 40 + 5 * random())),
  (extract(epoch FROM t - %(start)s) * 125000)::bigint, (extract(epoch FROM t - %(start)s) * 250000)::bigint,
  random() * 2, 1.0, 0.8, (random() * 50)::int,
  jsonb_build_object('zonemta', random() > 0.001, 'redis', true, 'rspamd', random() > 0.0005)
FROM generate_series(%(day)s::timestamptz, %(day)s::timestamptz + interval '1 day' - interval '15 seconds',
                     interval '15 seconds') AS t
CROSS JOIN (SELECT id FROM {nodes}) AS n WHERE t < %(end)s"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep-db", action="store_true", help="Do not drop the benchmark database.")
    parser.add_argument("--db", default=BENCH_DB, help=f"Benchmark database name (default {BENCH_DB}).")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[node metrics bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def admin_execute(sql: str) -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql)


def load(nodes: int, days: int, now: dt.datetime) -> int:
    from django.db import connection

    from apps.core import timeseries
    from apps.nodes.models import Node, NodeMetric

    Node.objects.bulk_create([Node(hostname=f"mta-{i + 1}.example.net", role="zonemta-outbound") for i in range(nodes)])
    start = (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    table = NodeMetric._meta.db_table
    day = start
    with connection.cursor() as cursor:
        while day < now:
            timeseries.ensure_partitions(table, [day.date()])
            cursor.execute(DAY_SQL.format(table=table, nodes=Node._meta.db_table),
                           {"start": start, "day": day, "end": now})
            day += dt.timedelta(days=1)
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]


def p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20, method="inclusive")[18] * 1000, 1)


def timed(call, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return p95(samples)


def measure(repeat: int) -> dict:
    from django.test import Client

    from apps.events.time_range import TimeRange
    from apps.nodes import selectors
    from apps.nodes.models import Node
    from tests.core.factories import UserFactory

    node = Node.objects.get(hostname="mta-1.example.net")
    client = Client()
    client.force_login(UserFactory(username="bench-viewer", role="Viewer"))

    def get(url: str, params: dict):
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code} {response.content[:300]!r}")

    results: dict = {}
    for preset in RANGES:
        data = selectors.node_metrics(node=node, time_range=TimeRange.parse(range=preset, start=None, end=None))
        results[preset] = {
            "resolution": data["resolution"], "points": len(data["buckets"]), "samples": sum(data["samples"]),
            "selector_p95_ms": timed(lambda p=preset: selectors.node_metrics(
                node=node, time_range=TimeRange.parse(range=p, start=None, end=None)), repeat),
            "api_p95_ms": timed(lambda p=preset: get(f"/api/v1/nodes/{node.hostname}/metrics", {"range": p}), repeat),
            "page_p95_ms": timed(lambda p=preset: get(f"/nodes/{node.hostname}/", {"range": p}), max(3, repeat // 4)),
        }
    return results


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = args.db
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None
    # the page renders {% static %} links: no collected manifest needed to time it
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    try:
        call_command("migrate", verbosity=0)
        log(f"loading {args.days} days of 15 s reports for {args.nodes} nodes")
        began = time.perf_counter()
        rows = load(args.nodes, args.days, timezone.now())
        log(f"{rows} rows in {time.perf_counter() - began:.0f} s; timing")
        results = measure(args.repeat)
        worst = max(r["api_p95_ms"] for r in results.values())
        print(json.dumps({"bench": "node_metrics", "nodes": args.nodes, "days": args.days, "rows": rows,
                          "ranges": results, "worst_api_p95_ms": worst, "target_ms": TARGET_MS,
                          "ok": worst <= TARGET_MS}))
    finally:
        connections.close_all()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


if __name__ == "__main__":
    main()
