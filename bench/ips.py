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
   seconds from one thread → requests/s (all 304s), plus the cold build of the answer.

Targets (issue 10): page and API p95 ≤ 100 ms; bulk on 1,000 IPs ≤ 1 s; ≥ 1,000 requests/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

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
JOIN LATERAL (SELECT address, node_id FROM ips_sendingip WHERE id = 1 + (g::bigint * 7919) %% %(ips)s + (g - g)) AS ip ON true
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


def timed(client, url: str, params: dict, repeat: int, **headers) -> float:
    client.get(url, params, **headers)  # warm: templates compiled, connections open (not measured)
    samples = []
    for _ in range(repeat):
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
        "page q=CIDR /22": ("/ips/", {"q": "10.0.4.0/22"}, {}),
        "page htmx partial, page 20": ("/ips/", {"page": 20}, {"HTTP_HX_REQUEST": "true"}),
        "api": ("/api/v1/ips", {}, {}),
        "api sort=-bounce_rate": ("/api/v1/ips", {"sort": "-bounce_rate"}, {}),
        "api status+pool+version": ("/api/v1/ips", {"status": "active", "pool": 1, "version": 4}, {}),
    }
    return {name: timed(client, url, params, repeat, **headers) for name, (url, params, headers) in cases.items()}


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


def time_mta_pools(seconds: float) -> dict:
    from django.core.cache import cache
    from django.test import Client

    from apps.core.models import AgentAPIKey

    _, key = AgentAPIKey.objects.create_key(name="bench-mta")
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ips", type=int, default=5000)
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--db", default=BENCH_DB)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    import django

    from mailmon import embedded

    embedded.start()
    use_bench_database(args.db)
    from django.conf import settings

    # Pages without collectstatic's manifest (as in the tests): serve static names as they are.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
    admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from tests.core.factories import UserFactory

    try:
        log("migrating")
        call_command("migrate", verbosity=0, interactive=False)
        create_fleet(args.ips)
        log(f"loading {args.events} events")
        figures = load(args.events, args.ips)
        client = Client()
        client.force_login(UserFactory(username="bench-operator", role="Operator"))
        log("timing pages and API")
        p95s = time_pages(client, args.repeat)
        log("timing bulk actions")
        bulk = time_bulk(client)
        log("polling /api/v1/mta/pools")
        mta = time_mta_pools(args.seconds)
        result = {
            "bench": "ips", "ips": args.ips, **figures, "repeat": args.repeat, "p95_ms": p95s, **bulk, **mta,
            "client": "django.test.Client in process (full middleware + DRF, no socket), one thread",
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "meets_target": {
                "p95_le_100ms": max(p95s.values()) <= TARGET_MS,
                "bulk_le_1s": bulk["bulk_pause_1000_s"] <= TARGET_BULK_S,
                "mta_pools_ge_1000_rps": mta["mta_pools_etag_requests_per_s"] >= TARGET_RPS,
            },
        }  # fmt: skip
    finally:
        connection.close()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
