"""Sending-IP benchmark: the IP page and API, a bulk action, and /api/v1/mta/pools under polling.

Run from the repository root: ``.venv/bin/python bench/ips.py`` (``--ips``, ``--events`` to scale).
Prints ONE JSON line (progress goes to stderr).

On a throwaway database ``mailmon_bench_ips`` of the configured PostgreSQL server (created,
then dropped unless --keep-db), it:

1. migrates, creates 20 nodes, 8 pools and ``--ips`` sending IPs (default 5,000);
2. loads ``--events`` events (default 500,000) over the last 24 hours spread over those IPs,
   rebuilds the rollups and ANALYZEs;
3. times, with a logged-in operator through Django's test client (whole middleware + DRF
   stack, in process, no socket): the IP page (default sort, sorted by sent 24 h, a CIDR
   search, the htmx partial) and ``GET /api/v1/ips`` (same), ``--repeat`` times each → p95;
4. times a bulk pause of 1,000 IPs through ``POST /api/v1/ips/bulk`` (and the activation back);
5. polls ``GET /api/v1/mta/pools`` with an agent key and the last ETag for ``--seconds``
   seconds from one thread → requests/s (all 304s), plus the cold build of the answer;
6. one node-scoped key per node (20) polling once per sent-today epoch (1 s epochs here), as
   MTAs polling every ``MAILMON_MTA_POOLS_SENT_REFRESH`` seconds do: each poll meets a new
   epoch, so its answer is rebuilt → latency per poll, and the time per epoch for all nodes;
7. the same polls as in 5 over HTTP: gunicorn as deployed (``gunicorn.conf.py``: gthread, 4 threads;
   ``--http-workers`` processes) and ``--http-clients`` keep-alive clients (threads of this
   process, so they share the 2 cores with the server) for ``--seconds`` seconds.

The in-process figure is the cost of one request (latency, one thread, no socket); the HTTP
figure is closer to what a server sustains. Either way the need is small: 100 MTAs polling
every 10 s make 10 requests/s. The IP table's figure sorts read the per-IP figures from the
cache (``MAILMON_IP_FIGURES_CACHE_SECONDS``); ``cold`` cases empty the cache before every
request, i.e. what the first view after the cache time pays.

``--reuse-db`` keeps an existing ``--db`` (from a run with ``--keep-db``) instead of loading it
again: A/B runs of two checkouts against the same data.

Targets (issue 10): page and API p95 ≤ 100 ms; bulk on 1,000 IPs ≤ 1 s; ≥ 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

from query import admin_execute, p95, use_bench_database  # noqa: E402

BENCH_DB = "mailmon_bench_ips"
NODES, POOLS = 20, 8
TARGET_MS, TARGET_BULK_S, TARGET_RPS = 100.0, 1.0, 1000.0


def log(message: str) -> None:
    print(f"[ips bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def address(i: int) -> str:
    return f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}"


def create_fleet(ips: int) -> None:
    from apps.ips.models import SendingIP
    from apps.nodes.models import Node
    from apps.pools.models import IpPool

    nodes = Node.objects.bulk_create([Node(hostname=f"mta-{i:02d}.bench.example") for i in range(NODES)])
    pools = IpPool.objects.bulk_create([IpPool(name=f"pool-{i}") for i in range(POOLS)])
    SendingIP.objects.bulk_create(
        SendingIP(address=address(i), node=nodes[i % NODES], pool=pools[i % POOLS],
                  daily_limit=None if i % 3 else 50000, reputation_score=(i * 37) % 100)  # fmt: skip
        for i in range(ips)
    )


EVENTS_SQL = """
INSERT INTO events_emailevent (time, event_id, type, node_id, sending_ip, message_id, sender, sender_domain,
  recipient, recipient_domain, mx_host, status_code, enhanced_status, response, delay_ms, bounce_category, size,
  account)
SELECT now() - random() * interval '24 hours', 'ev-' || g, t.kind, ip.node_id, ip.address, '<m' || g || '@b>',
  'news@shop.example', 'shop.example', 'u' || g || '@gmail.com', 'gmail.com', '', t.code, t.enhanced, '',
  (random() * 5000)::int, t.category, 2048, ''
FROM generate_series(1, %(events)s) AS g
JOIN LATERAL (SELECT address, node_id FROM ips_sendingip
  WHERE id = 1 + (g::bigint * 7919) %% %(ips)s + (g - g)) AS ip ON true
JOIN LATERAL (SELECT CASE WHEN r < 0.9 THEN 'delivered' WHEN r < 0.96 THEN 'deferred' ELSE 'bounced' END AS kind,
  CASE WHEN r < 0.9 THEN 250 WHEN r < 0.96 THEN 421 ELSE 550 END AS code,
  CASE WHEN r < 0.9 THEN '2.0.0' WHEN r < 0.96 THEN '4.7.28' ELSE '5.1.1' END AS enhanced,
  CASE WHEN r < 0.9 THEN '' WHEN r < 0.96 THEN 'rate_limited' ELSE 'invalid_recipient' END AS category
  FROM (SELECT random() + (g - g) AS r) AS x) AS t ON true
"""


def load(events: int, ips: int) -> dict:
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from apps.core import timeseries
    from apps.events.rollups import rollups_rebuild

    today = timezone.now().date()
    timeseries.ensure_partitions("events_emailevent", [today - dt.timedelta(days=1), today])
    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        cursor.execute(EVENTS_SQL, {"events": events, "ips": ips})
        stored = cursor.rowcount
    rollups_rebuild(progress=log)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"events": stored, "load_s": round(time.monotonic() - began, 1)}


def timed(client, url: str, params: dict, repeat: int, cold: bool = False, **headers) -> float:
    from django.core.cache import cache

    client.get(url, params, **headers)  # warm: templates compiled, connections open (not measured)
    samples = []
    for _ in range(repeat):
        if cold:
            cache.clear()
        began = time.perf_counter()
        response = client.get(url, params, **headers)
        samples.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: HTTP {response.status_code} {response.content[:300]!r}")
    return p95(samples)


def time_pages(client, repeat: int) -> dict:
    cases = {
        "page": ("/ips/", {}, {}),
        "page sort=-sent_24h": ("/ips/", {"sort": "-sent_24h"}, {}),
        "page sort=-sent_24h, pool filter, page 3": ("/ips/", {"sort": "-sent_24h", "pool": 2, "page": 3}, {}),
        "page q=CIDR /22": ("/ips/", {"q": "10.0.4.0/22"}, {}),
        "page htmx partial, page 20": ("/ips/", {"page": 20}, {"HTTP_HX_REQUEST": "true"}),
        "api": ("/api/v1/ips", {}, {}),
        "api sort=-bounce_rate": ("/api/v1/ips", {"sort": "-bounce_rate"}, {}),
        "api status+pool+version": ("/api/v1/ips", {"status": "active", "pool": 1, "version": 4}, {}),
    }
    return {name: timed(client, url, params, repeat, **headers) for name, (url, params, headers) in cases.items()}


def time_cold(client, repeat: int) -> dict:
    """Figure sorts with the cache emptied before each request (not part of the p95 target)."""
    cases = {"page sort=-sent_24h, cold": ("/ips/", {"sort": "-sent_24h"}),
             "api sort=-bounce_rate, cold": ("/api/v1/ips", {"sort": "-bounce_rate"})}  # fmt: skip
    return {name: timed(client, url, params, max(5, repeat // 4), cold=True) for name, (url, params) in cases.items()}


def time_bulk(client, rounds: int = 3) -> dict:
    from apps.ips.models import SendingIP

    addresses = list(SendingIP.objects.order_by("id").values_list("address", flat=True)[:1000])
    pause, activate = [], []
    for _ in range(rounds):
        for action, samples in (("pause", pause), ("activate", activate)):
            began = time.perf_counter()
            response = client.post("/api/v1/ips/bulk", {"ips": addresses, "action": action},
                                   content_type="application/json")  # fmt: skip
            samples.append(time.perf_counter() - began)
            if response.status_code != 200 or response.json()["changed"] != 1000:
                raise SystemExit(f"bulk {action}: HTTP {response.status_code} {response.content[:300]!r}")
    return {"bulk_pause_1000_s": round(max(pause), 3), "bulk_activate_1000_s": round(max(activate), 3)}


def time_mta_pools(seconds: float, key: str) -> dict:
    from django.core.cache import cache
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
    cache.clear()
    began = time.perf_counter()
    first = client.get("/api/v1/mta/pools")
    cold_ms = (time.perf_counter() - began) * 1000
    etag, size = first["ETag"], len(first.content)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        response = client.get("/api/v1/mta/pools", HTTP_IF_NONE_MATCH=etag)
        if response.status_code != 304:
            etag = response["ETag"]  # a sent-today epoch with new figures: a 200, then 304s again
        count += 1
    rps = count / (time.perf_counter() - began)
    return {"mta_pools_cold_build_ms": round(cold_ms, 1), "mta_pools_body_bytes": size,
            "mta_pools_etag_requests_per_s": round(rps)}  # fmt: skip


def time_mta_node_polls(rounds: int) -> dict:
    """One node-scoped key per node, each polling once per sent-today epoch, as MTAs polling every
    MAILMON_MTA_POOLS_SENT_REFRESH seconds do (here 1 s epochs): every poll meets a new epoch,
    so its answer is rebuilt (and is a 304 when nothing changed)."""
    import statistics

    from django.conf import settings
    from django.test import Client

    from apps.core.models import AgentAPIKey
    from apps.nodes.models import Node

    refresh, settings.MAILMON_MTA_POOLS_SENT_REFRESH = settings.MAILMON_MTA_POOLS_SENT_REFRESH, 1
    try:
        clients = []
        for node in Node.objects.order_by("id"):
            _, key = AgentAPIKey.objects.create_key(name=f"bench-{node.hostname}", node=node)
            client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="127.0.0.1")
            clients.append([client, client.get("/api/v1/mta/pools")["ETag"]])
        samples, rounds_ms, statuses = [], [], Counter()
        for _ in range(rounds):
            time.sleep(1.02 - time.time() % 1)  # just past the start of the next epoch
            began = time.perf_counter()
            for entry in clients:
                start = time.perf_counter()
                response = entry[0].get("/api/v1/mta/pools", HTTP_IF_NONE_MATCH=entry[1])
                samples.append(time.perf_counter() - start)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    entry[1] = response["ETag"]
            rounds_ms.append((time.perf_counter() - began) * 1000)
    finally:
        settings.MAILMON_MTA_POOLS_SENT_REFRESH = refresh
    return {"mta_pools_node_poll_new_epoch_ms": {"p50": round(statistics.median(samples) * 1000, 1),
                                                  "p95": p95(samples)},
            "mta_pools_node_polls_per_epoch_ms": round(statistics.median(rounds_ms), 1),
            "mta_pools_node_polls": {"nodes": len(clients), "rounds": rounds,
                                     "statuses": {str(k): v for k, v in sorted(statuses.items())}}}  # fmt: skip


def _poll_http(port: int, key: str, etag: str, until: float, counts: Counter, lock: threading.Lock) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Api-Key {key}", "If-None-Match": etag}
    mine: Counter = Counter()
    while time.perf_counter() < until:
        conn.request("GET", "/api/v1/mta/pools", headers=headers)
        response = conn.getresponse()
        response.read()
        mine[response.status] += 1
        if response.status == 200:
            headers["If-None-Match"] = response.getheader("ETag")
        elif response.status != 304:
            break
    conn.close()
    with lock:
        counts.update(mine)


def time_mta_pools_http(seconds: float, key: str, workers: int, clients: int) -> dict:
    """/api/v1/mta/pools polled over HTTP through gunicorn (gunicorn.conf.py) by keep-alive clients."""
    from django.conf import settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = settings.DATABASES["default"]
    url = urlunparse(urlparse(os.environ["DATABASE_URL"])._replace(path="/" + db["NAME"]))
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "mailmon.settings", "DEBUG": "0",
           "DATABASE_CONN_MAX_AGE": "600"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}", "mailmon.wsgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        etag = None
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/api/v1/mta/pools", headers={"Authorization": f"Api-Key {key}"})
                response = conn.getresponse()
                response.read()
                etag = response.getheader("ETag")
                break
            except OSError:
                time.sleep(0.2)
        if etag is None:
            raise SystemExit("gunicorn did not answer")
        counts: Counter = Counter()
        lock = threading.Lock()
        began = time.perf_counter()
        threads = [threading.Thread(target=_poll_http, args=(port, key, etag, began + seconds, counts, lock))
                   for _ in range(clients)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
    return {"mta_pools_http_requests_per_s": round(sum(counts.values()) / elapsed),
            "mta_pools_http_statuses": {str(k): v for k, v in sorted(counts.items())},
            "mta_pools_http_setup": f"gunicorn -w {workers} (gthread, gunicorn.conf.py), {clients} keep-alive "
                                    "client threads in the bench process, same 2 cores"}  # fmt: skip


def database_exists(name: str) -> bool:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ips", type=int, default=5000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--node-rounds", type=int, default=8)
    parser.add_argument("--http-workers", type=int, default=2)
    parser.add_argument("--http-clients", type=int, default=4)
    parser.add_argument("--db", default=BENCH_DB)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true", help="use --db as left by --keep-db (no load)")
    args = parser.parse_args()
    import django

    from mailmon import embedded

    embedded.start()
    use_bench_database(args.db)
    from django.conf import settings

    # Pages without collectstatic's manifest (as in the tests): serve static names as they are.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
    reuse = args.reuse_db and database_exists(args.db)
    if not reuse:
        admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from apps.core.models import AgentAPIKey
    from apps.ips.models import SendingIP
    from tests.core.factories import UserFactory

    try:
        if reuse:
            log(f"reusing {args.db}")
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM events_emailevent")
                figures = {"events": cursor.fetchone()[0], "reused_db": True}
            args.ips = SendingIP.objects.count()
        else:
            log("migrating")
            call_command("migrate", verbosity=0, interactive=False)
            create_fleet(args.ips)
            log(f"loading {args.events} events")
            figures = load(args.events, args.ips)
        user = get_user_model().objects.filter(username="bench-operator").first()
        client = Client()
        client.force_login(user or UserFactory(username="bench-operator", role="Operator"))
        log("timing pages and API")
        p95s = time_pages(client, args.repeat)
        cold = time_cold(client, args.repeat)
        log("timing bulk actions")
        bulk = time_bulk(client)
        _, key = AgentAPIKey.objects.create_key(name="bench-mta")
        log("polling /api/v1/mta/pools")
        mta = time_mta_pools(args.seconds, key)
        log("node-scoped keys polling once per epoch")
        mta |= time_mta_node_polls(args.node_rounds)
        log("polling /api/v1/mta/pools over HTTP")
        mta |= time_mta_pools_http(args.seconds, key, args.http_workers, args.http_clients)
        result = {
            "bench": "ips", "ips": args.ips, **figures, "repeat": args.repeat, "p95_ms": p95s,
            "p95_ms_cold_cache": cold, **bulk, **mta,
            "client": "django.test.Client in process (full middleware + DRF, no socket), one thread",
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "meets_target": {
                "p95_le_100ms": max(p95s.values()) <= TARGET_MS,
                "bulk_le_1s": bulk["bulk_pause_1000_s"] <= TARGET_BULK_S,
                "mta_pools_ge_1000_rps": mta["mta_pools_etag_requests_per_s"] >= TARGET_RPS,
                "mta_pools_http_ge_1000_rps": mta["mta_pools_http_requests_per_s"] >= TARGET_RPS,
            },
        }  # fmt: skip
    finally:
        connection.close()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
