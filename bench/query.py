"""Query benchmark: p95 latency of every /api/v1/email/* question over 10 million events.

Run from the repository root: ``.venv/bin/python bench/query.py`` (``make bench``).
Prints ONE JSON line (progress goes to stderr).

On a throwaway database ``mailmon_bench_query`` (``--db`` to choose another) of the configured PostgreSQL server
(created, then dropped unless --keep-db), it:

1. migrates, creates 15 nodes, 4 pools and 320 sending IPs;
2. loads ``--events`` events spread over the last ``--days`` days with one
   ``INSERT … SELECT … FROM generate_series`` per day: a Gmail/Outlook/Yahoo-heavy
   domain mix with a long tail of 2,000 domains, 40 sender domains, realistic
   outcomes and codes, log-normal delivery times; plus a queue report per node every 15 s;
3. rebuilds the rollups from those events (``rollups_rebuild``, as ``manage.py
   rebuild_rollups`` does) and ANALYZEs;
4. times each question ``--repeat`` times for the 24 h and 30 d ranges, once through
   the selectors and once through the API with a logged-in viewer (Django's test
   client: the whole middleware + DRF stack in process, no socket), and reports p95;
5. times the fleet overview's questions (health of nodes, IPs and domains over the last
   15 minutes, the last hour against last week) and its pages ``/`` and ``/ips/health/``.
6. times the event search (``GET /api/v1/events?q=…``, one lookup per kind of ``q``: full
   address, local part, busy and rare domain, Message-ID, queue id, IP, common and rare
   response text), first page and the page after it, against ``SEARCH_TARGET_MS``.
   ``--only search`` skips step 4.
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

BENCH_DB = "mailmon_bench_query"
TARGET_MS = 100.0
SEARCH_TARGET_MS = 300.0
NODES, IPS, POOLS = 15, 320, 4

TYPES_SQL = """CASE
  WHEN r_type < 0.78 THEN 'delivered' WHEN r_type < 0.86 THEN 'queued' WHEN r_type < 0.93 THEN 'deferred'
  WHEN r_type < 0.965 THEN 'bounced' WHEN r_type < 0.998 THEN 'rejected' ELSE 'complained' END"""
# (category, code, enhanced, response) per non-delivery outcome, chosen by r_reason.
REASONS = {
    "deferred": [
        ("rate_limited", 421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail"),
        ("spam_block", 421, "4.7.0", "421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints"),
        ("connection", 451, "4.4.2", "451 4.4.2 Timeout waiting for data from client"),
        ("mailbox_full", 452, "4.2.2", "452 4.2.2 The email account that you tried to reach is over quota"),
        ("greylisted", 450, "4.2.0", "450 4.2.0 Recipient address rejected: Greylisted, see http://postgrey.example"),
    ],
    "bounced": [
        ("invalid_recipient", 550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist"),
        ("mailbox_full", 552, "5.2.2", "552 5.2.2 Mailbox full"),
        ("dns_failure", 550, "5.1.2", "Host or domain name not found. Name service error"),
    ],
    "rejected": [
        ("spam_block", 550, "5.7.1", "550 5.7.1 Service unavailable, Client host blocked using Spamhaus (S3150)"),
        ("policy", 550, "5.7.26", "550-5.7.26 Unauthenticated email is not accepted: DMARC policy"),
        ("content", 554, "5.7.1", "554 5.7.1 Message rejected because of its content"),
    ],
}


def _reason_case(index: int) -> str:
    arms = []
    for kind, reasons in REASONS.items():
        for n, reason in enumerate(reasons):
            value = reason[index]
            literal = str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"
            arms.append(f"WHEN kind = '{kind}' AND r_reason * {len(reasons)} < {n + 1} THEN {literal}")
    empty = "NULL" if index == 1 else "''"
    delivered = {1: "250", 2: "'2.0.0'", 3: "'250 2.0.0 OK 1764064800 a1b2c3 - gsmtp'"}.get(index, "''")
    return f"CASE WHEN kind = 'delivered' THEN {delivered} {' '.join(arms)} ELSE {empty} END"


DOMAIN_SQL = """CASE
  WHEN r_dom < 0.33 THEN 'gmail.com' WHEN r_dom < 0.43 THEN 'outlook.com' WHEN r_dom < 0.51 THEN 'hotmail.com'
  WHEN r_dom < 0.62 THEN 'yahoo.com' WHEN r_dom < 0.67 THEN 'icloud.com' WHEN r_dom < 0.70 THEN 'gmx.de'
  WHEN r_dom < 0.73 THEN 'web.de' WHEN r_dom < 0.75 THEN 'aol.com'
  ELSE 'd' || floor(2000 * power(random(), 2))::int || '.example' END"""


def day_insert_sql(count: int) -> str:
    """One day's events: %(day)s is where the day starts, %(offset)s the first sequence number."""
    return f"""
INSERT INTO events_emailevent (time, event_id, type, node_id, sending_ip, message_id, sender, sender_domain,
  recipient, recipient_domain, mx_host, status_code, enhanced_status, response, delay_ms, bounce_category,
  size, account)
SELECT time, 'mta:' || upper(to_hex(i::bigint * 7919)) || ':' || i, kind, node_ids[1 + mod(ip, {NODES})], ips[1 + ip],
  '<' || i || '@bench.example>',
  'news@' || sdomain, sdomain, 'user' || mod(i, 100000) || '@' || rdomain, rdomain, 'mx.' || rdomain,
  {_reason_case(1)}, {_reason_case(2)}, {_reason_case(3)},
  CASE WHEN kind IN ('delivered', 'deferred', 'bounced')
    THEN least(exp(7.3 + 1.3 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())), 2e9)::int END,
  CASE WHEN kind = 'delivered' THEN '' ELSE {_reason_case(0)} END,
  2000 + (random() * 80000)::int, 'acct' || mod(i, 50)
FROM (
  SELECT i, time, ip, sdomain, rdomain, r_reason, {TYPES_SQL.replace(chr(10), ' ')} AS kind FROM (
    SELECT i, %(day)s::timestamptz + (random() * 86400) * interval '1 second' AS time,
      floor({IPS} * random())::int AS ip,
      'brand' || floor(40 * power(random(), 3))::int || '.example' AS sdomain,
      {DOMAIN_SQL.replace(chr(10), ' ')} AS rdomain, random() AS r_type, random() AS r_reason
    FROM (SELECT i, random() AS r_dom FROM generate_series(%(offset)s, %(offset)s + {count} - 1) AS i) AS g
  ) AS x
) AS e,
  (SELECT array_agg(id ORDER BY id) AS node_ids FROM nodes_node) AS n,
  (SELECT array_agg(address ORDER BY id) AS ips FROM ips_sendingip) AS a
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--keep-db", action="store_true", help="Do not drop the benchmark database.")
    parser.add_argument("--reuse-db", action="store_true", help="Skip loading: query a kept database.")
    parser.add_argument("--only", choices=["all", "search"], default="all", help="search: only the event search.")
    parser.add_argument("--db", default=BENCH_DB, help=f"Benchmark database name (default {BENCH_DB}).")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[query bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def admin_execute(sql: str) -> None:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql)


def use_bench_database(name: str) -> None:
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = name  # before any connection is opened
    settings.DATABASES["default"]["CONN_MAX_AGE"] = None


def create_fleet() -> None:
    from apps.ips.models import SendingIP
    from apps.nodes.models import Node
    from apps.pools.models import IpPool

    nodes = Node.objects.bulk_create(
        [Node(hostname=f"mta-{i:02d}.bench.example", role="zonemta-outbound", status="online") for i in range(NODES)]
    )
    pools = IpPool.objects.bulk_create([IpPool(name=name) for name in ("transactional", "bulk", "warmup", "vip")])
    SendingIP.objects.bulk_create(
        [
            SendingIP(address=f"198.51.{100 + i // 250}.{i % 250 + 1}", node=nodes[i % NODES], pool=pools[i % POOLS])
            for i in range(IPS)
        ]
    )


def load(events: int, days: int, now: dt.datetime) -> dict:
    from django.db import connection

    from apps.core import timeseries
    from apps.events.rollups import rollups_rebuild

    first = (now - dt.timedelta(days=days)).date()
    timeseries.ensure_partitions("events_emailevent", [first + dt.timedelta(days=i) for i in range(days + 1)])
    timeseries.ensure_partitions("nodes_nodemetric", [first + dt.timedelta(days=i) for i in range(days + 1)])
    per_day = events // days
    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        for n in range(days):  # 24 h slices back from now, so every event lies in the last `days` days
            count = per_day if n < days - 1 else events - per_day * n
            cursor.execute(day_insert_sql(count), {"day": now - dt.timedelta(days=n + 1), "offset": n * per_day})
            log(f"loaded day -{n + 1} ({count} events, {time.monotonic() - began:.0f}s)")
        cursor.execute("SELECT count(*) FROM events_emailevent")
        stored = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO nodes_nodemetric (time, node_id, disks, services, queue_size) "
            "SELECT t, n.id, '{}', '{}', (200 + 150 * sin(extract(epoch FROM t) / 3600) + random() * 50)::int "
            "FROM generate_series(%s::timestamptz, %s::timestamptz, interval '15 seconds') AS t, nodes_node n",
            [now - dt.timedelta(days=days), now],
        )
        metrics = cursor.rowcount
    load_s = time.monotonic() - began
    began = time.monotonic()
    rollups_rebuild(progress=log)
    rebuild_s = time.monotonic() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"events": stored, "node_metrics": metrics, "load_s": round(load_s, 1), "rebuild_s": round(rebuild_s, 1)}


def rollup_rows() -> dict[str, int]:
    from django.db import connection

    from apps.events.rollups import all_tables

    with connection.cursor() as cursor:
        counts = {}
        for table in all_tables():
            cursor.execute(f"SELECT count(*) FROM {table}")
            counts[table.removeprefix("events_")] = cursor.fetchone()[0]
    return counts


def node_queue(**kwargs) -> dict:
    from apps.nodes.selectors import queue

    return queue(**kwargs)


QUESTIONS = {
    "throughput": lambda s, tr, f: s.throughput(time_range=tr, filters=f, group_by="type"),
    "throughput_by_node": lambda s, tr, f: s.throughput(time_range=tr, filters=f, group_by="node"),
    "throughput_by_to_domain": lambda s, tr, f: s.throughput(time_range=tr, filters=f, group_by="to_domain"),
    "stats": lambda s, tr, f: s.stats(time_range=tr, filters=f),
    "bounce-analysis": lambda s, tr, f: s.bounce_analysis(time_range=tr, filters=f),
    "delivery-histogram": lambda s, tr, f: s.delivery_histogram(time_range=tr, filters=f),
    "deferred-reasons": lambda s, tr, f: s.deferred_reasons(time_range=tr, filters=f),
    "destinations": lambda s, tr, f: s.destinations(time_range=tr, filters=f),
    "queue": lambda s, tr, f: node_queue(time_range=tr, node=f.node),
}
URLS = {
    "throughput": ("throughput", {}),
    "throughput_by_node": ("throughput", {"group_by": "node"}),
    "throughput_by_to_domain": ("throughput", {"group_by": "to_domain"}),
    "stats": ("stats", {}),
    "bounce-analysis": ("bounce-analysis", {}),
    "delivery-histogram": ("delivery-histogram", {}),
    "deferred-reasons": ("deferred-reasons", {}),
    "destinations": ("destinations", {}),
    "queue": ("queue", {}),
}


def p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20, method="inclusive")[18] * 1000, 1)


def time_selectors(repeat: int, filters_by_name: dict) -> dict:
    """p95 per question and range; filtered variants get fewer repetitions (raw fallbacks are slow)."""
    from apps.events import selectors
    from apps.events.time_range import TimeRange

    results: dict[str, dict[str, float]] = {}
    for filter_name, (filters, share) in filters_by_name.items():
        for name, call in QUESTIONS.items():
            for preset in ("24h", "30d"):
                samples = []
                for _ in range(max(3, int(repeat * share))):
                    began = time.perf_counter()
                    call(selectors, TimeRange.parse(range=preset, start=None, end=None), filters)
                    samples.append(time.perf_counter() - began)
                key = name if filter_name == "none" else f"{name} [{filter_name}]"
                results.setdefault(key, {})[preset] = p95(samples)
    return results


def time_http(repeat: int) -> dict:
    from django.test import Client

    from tests.core.factories import UserFactory

    user = UserFactory(username="bench-viewer", role="Viewer")
    client = Client()
    client.force_login(user)
    results: dict[str, dict[str, float]] = {}
    for name, (path, params) in URLS.items():
        for preset in ("24h", "30d"):
            samples = []
            for _ in range(repeat):
                began = time.perf_counter()
                response = client.get(f"/api/v1/email/{path}", {"range": preset, **params})
                samples.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code} {response.content[:300]!r}")
            results.setdefault(name, {})[preset] = p95(samples)
    return results


def time_overview(repeat: int) -> dict:
    """p95 of the overview's questions (issue 8): fleet health (nodes, latest reports, 15-minute
    rates), the last hour against last week, and the pages ``/`` and ``/ips/health/``."""
    from django.conf import settings
    from django.test import Client, override_settings
    from django.utils import timezone

    from apps.events import selectors_rates
    from apps.nodes import attention
    from tests.core.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="bench-overview", role="Viewer"))
    calls = {
        "fleet_health": lambda: attention.fleet_health(now=timezone.now()),
        "flow_summary": lambda: selectors_rates.flow_summary(now=timezone.now()),
        "page /": lambda: client.get("/"),
        "page /ips/health/": lambda: client.get("/ips/health/"),
    }
    results = {}
    # Pages name static files: plain storage, so the bench needs no collectstatic manifest.
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=plain):
        for name, call in calls.items():
            samples = []
            for _ in range(repeat):
                began = time.perf_counter()
                response = call()
                samples.append(time.perf_counter() - began)
                if getattr(response, "status_code", 200) != 200:
                    raise SystemExit(f"{name}: HTTP {response.status_code}")
            results[name] = p95(samples)
    return results


def search_terms() -> dict[str, str]:
    """One q per kind, taken from the stored events (the newest event's message for the exact kinds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT recipient, message_id, event_id, host(sending_ip) FROM events_emailevent "
                       "WHERE time > now() - interval '2 days' ORDER BY time DESC LIMIT 1")
        recipient, message_id, event_id, ip = cursor.fetchone()
    return {
        "address": recipient, "local part": recipient.split("@")[0] + "@", "domain (busy)": "gmail.com",
        "domain (rare)": "d1999.example", "message-id": message_id, "queue id": event_id.split(":")[1],
        "ip": ip, "text (common)": "Greylisted", "text (rare)": "postgrey.example/none",
    }


def time_search(repeat: int) -> dict:
    """p95 of GET /api/v1/events per kind of q, 24 h and 30 d, first page and next page (cursor)."""
    from django.test import Client

    from tests.core.factories import UserFactory

    user = UserFactory(username="bench-viewer", role="Viewer")
    client = Client()
    client.force_login(user)
    results: dict[str, dict[str, float]] = {}
    terms = search_terms()
    for q in terms.values():  # warm-up: session, permissions, plans; not timed
        client.get("/api/v1/events", {"q": q, "range": "24h"})
    for name, q in terms.items():
        for preset in ("24h", "30d"):
            first, following, kinds = [], [], set()
            for _ in range(repeat):
                began = time.perf_counter()
                response = client.get("/api/v1/events", {"q": q, "range": preset})
                first.append(time.perf_counter() - began)
                if response.status_code != 200:
                    raise SystemExit(f"search {q!r}: HTTP {response.status_code} {response.content[:300]!r}")
                answer = response.json()
                kinds.add(answer["kind"])
                if answer["next_cursor"]:
                    began = time.perf_counter()
                    client.get("/api/v1/events", {"q": q, "range": preset, "cursor": answer["next_cursor"]})
                    following.append(time.perf_counter() - began)
            results.setdefault(name, {})[preset] = p95(first)
            if len(following) >= 2:
                results[name][f"{preset} next page"] = p95(following)
            results[name]["kind"] = "/".join(sorted(kinds))
    return results


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()  # an entry point: the embedded servers when DATABASE_URL/REDIS_URL are unset
    use_bench_database(args.db)
    if not args.reuse_db:
        admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.events.time_range import EventFilters
    from apps.nodes.models import Node

    try:
        if args.reuse_db:
            figures: dict = {"events": None, "load_s": None, "rebuild_s": None}
        else:
            log("migrating")
            call_command("migrate", verbosity=0, interactive=False)
            create_fleet()
            figures = load(args.events, args.days, timezone.now())
        node = Node.objects.order_by("id").first()
        filters = {  # name: (filters, share of --repeat)
            "none": (EventFilters(), 1.0),
            "node": (EventFilters(node=node.id), 0.25),
            "to_domain": (EventFilters(to_domain="yahoo.com"), 0.25),
            "raw: node + to_domain": (EventFilters(node=node.id, to_domain="yahoo.com"), 0.0),
        }
        selector_p95: dict = {}
        http_p95: dict = {}
        if args.only == "all":
            log("timing selectors")
            selector_p95 = time_selectors(args.repeat, filters)
            log("timing the HTTP API")
            http_p95 = time_http(args.repeat)
        log("timing the event search")
        search_p95 = time_search(args.repeat)
        search_max = max(v for d in search_p95.values() for v in d.values() if isinstance(v, float))
        log("timing the overview")
        overview_p95 = time_overview(args.repeat) if args.only == "all" else {}
        unfiltered = [v for k, d in selector_p95.items() if "[" not in k for v in d.values()]
        unfiltered += [v for d in http_p95.values() for v in d.values()]
        result = {
            "bench": "query",
            **figures,
            "days": args.days,
            "rollup_rows": rollup_rows(),
            "p95_ms_selectors": selector_p95,
            "p95_ms_api": http_p95,
            "p95_ms_overview": overview_p95,
            "api_client": "django.test.Client, logged-in viewer, in process (full middleware + DRF, no socket)",
            "repeat": args.repeat,
            "target_ms": TARGET_MS,
            "max_unfiltered_p95_ms": max(unfiltered) if unfiltered else None,
            "meets_target": max(unfiltered) <= TARGET_MS if unfiltered else None,
            "p95_ms_search_api": search_p95,
            "search_target_ms": SEARCH_TARGET_MS,
            "max_search_p95_ms": search_max,
            "search_meets_target": search_max <= SEARCH_TARGET_MS,
            "load_average": os.getloadavg(),
        }
    finally:
        connection.close()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
