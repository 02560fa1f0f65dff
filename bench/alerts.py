"""Alert evaluation benchmark: one round of 200 rules over 100 nodes and 5,000 sending IPs.

Run from the repository root: ``.venv/bin/python bench/alerts.py``. Prints ONE JSON line
(progress goes to stderr); the target is a round (``evaluation_run``: every rule evaluated,
states written, notifications planned) in ≤ 2 s.

On a throwaway database ``mailmon_bench_alerts`` (``--db``; dropped unless ``--keep-db``) it
migrates, creates the fleet (nodes, pools, IPs), 20 reports per node, 5-minute flow
rollups for every IP over the last hour and the same hour a week ago, rollups for
``--domains`` recipient domains, DNSBL listings for 1 % of the IPs, and ``--rules`` rules
mixing every source family, scope and grouping (several email windows), each routed to
``--channels`` webhook channels (the notifications are planned and queued, not sent). It then
times ``--rounds`` rounds (the first creates the alert rows, later ones step them).
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

from bench.query import admin_execute, use_bench_database  # noqa: E402

TARGET_S = 2.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--ips", type=int, default=5000)
    parser.add_argument("--domains", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--channels", type=int, default=1, help="webhook channels every rule notifies")
    parser.add_argument("--db", default="mailmon_bench_alerts")
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def log(message: str) -> None:
    print(f"[alerts bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def create_fleet(nodes: int, ips: int, now: dt.datetime) -> None:
    from apps.core import timeseries
    from apps.ips.models import SendingIP
    from apps.nodes.models import Node, NodeMetric
    from apps.pools.models import IpPool

    roles = ["zonemta-outbound", "postfix", "haraka", "wildduck"]
    Node.objects.bulk_create([Node(hostname=f"mx{i}.bench.example", role=roles[i % 4], status="online",
                                   last_seen=now) for i in range(nodes)])
    node_ids = list(Node.objects.order_by("id").values_list("id", flat=True))
    pools = IpPool.objects.bulk_create([IpPool(name=f"pool-{i}") for i in range(10)])
    SendingIP.objects.bulk_create([
        SendingIP(address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", node_id=node_ids[i % nodes],
                  pool=pools[i % 10]) for i in range(ips)
    ], batch_size=2000)
    timeseries.ensure_partitions(NodeMetric._meta.db_table, [(now - dt.timedelta(minutes=5)).date(), now.date()])
    NodeMetric.objects.bulk_create([
        NodeMetric(node_id=pk, time=now - dt.timedelta(seconds=15 * k), cpu_percent=(pk * 7 + k) % 100,
                   memory_percent=(pk * 13) % 100, load1=(pk % 9) / 2, queue_size=(pk * 37) % 2000,
                   disks={"/": {"used_percent": (pk * 11) % 100}}, services={"smtp": pk % 17 != 0})
        for pk in node_ids for k in range(20)
    ], batch_size=2000)


def load_rollups(now: dt.datetime, domains: int) -> int:
    from django.db import connection

    from apps.events.models.rollups import COUNT_FIELDS, HIST_FIELDS, ORIGIN, table_name

    step = dt.timedelta(minutes=5)
    current = ORIGIN + ((now - ORIGIN) // step) * step
    buckets = [current - k * step for k in range(12)] + [current - dt.timedelta(days=7) - k * step for k in range(12)]
    counts = ", ".join(COUNT_FIELDS.values())
    hist = ", ".join(HIST_FIELDS)
    values = {"n_delivered": "40 + (ip.id %% 20)", "n_bounced": "(ip.id %% 7)", "n_deferred": "(ip.id %% 5)"}
    count_sql = ", ".join(values.get(c, "0") for c in COUNT_FIELDS.values())
    hist_sql = ", ".join("(ip.id %% 3)" if i < 10 else "0" for i, _ in enumerate(HIST_FIELDS))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table_name('flow', 'ip', '5m')} (bucket, node_id, sending_ip, {counts}, delay_n, delay_sum, "
            f"{hist}) SELECT b, ip.node_id, ip.address, {count_sql}, 10, 12000, {hist_sql} "
            "FROM ips_sendingip ip CROSS JOIN unnest(%s::timestamptz[]) b", [buckets])
        rows = cursor.rowcount
        dom_counts = count_sql.replace("ip.id", "d")
        dom_hist = hist_sql.replace("ip.id", "d")
        cursor.execute(
            f"INSERT INTO {table_name('flow', 'recipient', '5m')} (bucket, recipient_domain, {counts}, delay_n, "
            f"delay_sum, {hist}) SELECT b, 'd' || d || '.example', {dom_counts}, 10, 12000, {dom_hist} "
            "FROM generate_series(1, %s) d CROSS JOIN unnest(%s::timestamptz[]) b", [domains, buckets])
        return rows + cursor.rowcount


def create_listings(now: dt.datetime) -> None:
    from apps.dnsbl.models import DnsblState, DnsblZone
    from apps.ips.models import SendingIP

    zone, _ = DnsblZone.objects.get_or_create(name="bench.zone.example", defaults={"may_pause": True})
    ips = SendingIP.objects.order_by("id")[::100]
    DnsblState.objects.bulk_create([DnsblState(ip=ip, zone=zone, state="listed", checked_at=now) for ip in ips])


def create_rules(count: int, nodes: int, channels: int) -> None:
    from apps.alerts.models import Channel, Rule

    node_rules = [("node.cpu", ">", 80), ("node.memory_available", "<", 20), ("node.disk_free", "<", 20),
                  ("node.load", ">", 3), ("node.queue", ">", 1000), ("node.service_down", ">", 0),
                  ("node.offline", ">", 0)]
    email_rules = [("email.bounce_rate", ">", 5), ("email.deferral_rate", ">", 8), ("email.delivery_p95", ">", 30),
                   ("email.volume_drop", ">", 50)]
    groupings = ["ip", "node", "pool", "domain", "fleet"]
    windows = [900, 1800, 3600]
    rules = []
    for i in range(count):
        kind = i % 10
        if kind < 4:
            source, condition, threshold = node_rules[i % len(node_rules)]
            scope = ["fleet", "role:postfix", f"node:mx{i % nodes}.bench.example"][i % 3]
            rules.append(Rule(name=f"bench {i}", source=source, condition=condition, threshold=threshold,
                              for_seconds=(i % 4) * 60, scope=scope))
        elif kind < 9:
            source, condition, threshold = email_rules[i % len(email_rules)]
            group = groupings[i % len(groupings)]
            scope = {"pool": f"pool:pool-{i % 10}", "domain": "fleet"}.get(group, "fleet")
            rules.append(Rule(name=f"bench {i}", source=source, condition=condition, threshold=threshold,
                              group_by=group, scope=scope, window_seconds=windows[i % 3], min_volume=50))
        else:
            source = ["dnsbl.listed", "ingest.backlog", "ingest.rejected"][i % 3]
            rules.append(Rule(name=f"bench {i}", source=source, condition=">", threshold=0))
    Rule.objects.bulk_create(rules)
    routes = Channel.objects.bulk_create([Channel(name=f"bench hook {i}", kind="webhook",
                                                  url=f"http://127.0.0.1:9/hook{i}") for i in range(channels)])
    Through = Rule.channels.through
    Through.objects.bulk_create([Through(rule_id=rule.pk, channel_id=channel.pk)
                                 for rule in Rule.objects.all() for channel in routes])


def main() -> None:
    args = parse_args()
    import django

    from mailmon import embedded

    embedded.start()
    use_bench_database(args.db)
    admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    admin_execute(f"CREATE DATABASE {args.db}")
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.alerts.models import Alert, Notification, Rule
    from apps.alerts.services import evaluation_run

    try:
        log("migrating")
        call_command("migrate", verbosity=0, interactive=False)
        Rule.objects.all().delete()
        now = timezone.now()
        create_fleet(args.nodes, args.ips, now)
        rollup_rows = load_rollups(now, args.domains)
        create_listings(now)
        create_rules(args.rules, args.nodes, args.channels)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        log(f"loaded: {rollup_rows} rollup rows; evaluating {args.rounds} rounds")
        times, queries = [], []
        for k in range(args.rounds):
            connection.queries_log.clear()
            connection.force_debug_cursor = True
            started = time.perf_counter()
            result = evaluation_run(now=now + dt.timedelta(seconds=30 * k))
            times.append(time.perf_counter() - started)
            queries.append(len(connection.queries))
            connection.force_debug_cursor = False
            log(f"round {k}: {times[-1]:.3f} s, {queries[-1]} queries, {len(result.fired)} fired, "
                f"{Notification.objects.count()} notifications queued in all")
        figures = {
            "bench": "alerts", "rules": args.rules, "nodes": args.nodes, "ips": args.ips, "domains": args.domains,
            "channels": args.channels, "rollup_rows": rollup_rows, "rounds": args.rounds,
            "first_round_s": round(times[0], 3), "round_p50_s": round(statistics.median(times), 3),
            "round_max_s": round(max(times), 3), "queries_per_round": max(queries),
            "subjects_evaluated": result.samples, "alerts_active": Alert.objects.active().count(),
            "target_s": TARGET_S, "ok": max(times) <= TARGET_S, "loadavg": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        connection.close()
        if not args.keep_db:
            admin_execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
