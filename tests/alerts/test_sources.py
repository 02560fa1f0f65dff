"""Email, DNSBL and ingest sources: per-IP rates from the rollups with min_volume, listings, backlog."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.alerts.evaluate import evaluate_round
from apps.alerts.models import Alert
from apps.alerts.services import rule_preview
from apps.dnsbl.models import DnsblState, DnsblZone
from apps.events.models import IngestBatch
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

from .factories import RuleFactory

pytestmark = pytest.mark.django_db


def _mail(node, ip, *, delivered, bounced, when):
    rows = [event(time=when, node_id=node.pk, sending_ip=ip) for _ in range(delivered)]
    rows += [event(time=when, node_id=node.pk, sending_ip=ip, type="bounced", status_code=550,
                   enhanced_status="5.1.1", response="550 no such user", delay_ms=None) for _ in range(bounced)]
    store_events(rows)


def test_bounce_rate_fires_per_ip_only_above_min_volume():
    node = NodeFactory(hostname="mta1.example.net")
    pool = IpPoolFactory(name="bulk")
    SendingIPFactory(address="198.51.100.7", node=node, pool=pool)
    now = timezone.now()
    _mail(node, "198.51.100.7", delivered=180, bounced=20, when=now - dt.timedelta(minutes=3))  # 10 %, 200 sent
    _mail(node, "198.51.100.8", delivered=15, bounced=5, when=now - dt.timedelta(minutes=3))  # 25 %, 20 sent
    RuleFactory(name="bounces", source="email.bounce_rate", threshold=5, for_seconds=0, min_volume=200)
    RuleFactory(name="pool bounces", source="email.bounce_rate", threshold=5, for_seconds=0, group_by="pool",
                scope="pool:bulk")
    evaluate_round(now=now)
    fired = {(a.rule.name, a.subject, round(a.value, 1)) for a in Alert.objects.firing().select_related("rule")}
    assert fired == {("bounces", "ip:198.51.100.7", 10.0), ("pool bounces", "pool:bulk", 10.0)}


def test_a_listing_on_a_pause_worthy_zone_fires_and_others_do_not():
    ip = SendingIPFactory(address="203.0.113.9")
    other = SendingIPFactory(address="203.0.113.10")
    strict = DnsblZone.objects.create(name="strict.example", may_pause=True)
    lenient = DnsblZone.objects.create(name="lenient.example", may_pause=False)
    now = timezone.now()
    DnsblState.objects.create(ip=ip, zone=strict, state="listed", checked_at=now, code="127.0.0.2")
    DnsblState.objects.create(ip=other, zone=lenient, state="listed", checked_at=now, code="127.0.0.2")
    rule = RuleFactory(name="listed", source="dnsbl.listed", threshold=0, for_seconds=0, severity="critical")
    assert [m["subject"] for m in rule_preview(rule=rule)["matching"]] == ["ip:203.0.113.9"]
    evaluate_round(now=now)
    assert list(Alert.objects.firing().values_list("subject", flat=True)) == ["ip:203.0.113.9"]


def test_the_ingest_backlog_is_the_events_waiting_in_the_inbox():
    IngestBatch.objects.create(events=700, payload=b"")
    IngestBatch.objects.create(events=500, payload=b"")
    RuleFactory(name="backlog", source="ingest.backlog", threshold=1000, for_seconds=0)
    evaluate_round()
    assert Alert.objects.get().value == 1200


def test_the_default_rule_set_installs_valid_rules():
    from importlib import import_module

    from django.apps import apps

    from apps.alerts.models import Rule

    import_module("apps.alerts.migrations.0002_default_rules").install(apps, None)
    rules = {r.source: r for r in Rule.objects.all()}
    assert set(rules) >= {"node.service_down", "node.queue", "node.cpu", "node.memory_available", "node.disk_free",
                          "portal.api_p95", "email.bounce_rate", "dnsbl.listed", "node.offline"}
    for rule in rules.values():
        rule.full_clean()
    bounce = rules["email.bounce_rate"]
    assert (bounce.threshold, bounce.window_seconds, bounce.min_volume) == (5, 900, 200)
    assert (rules["node.service_down"].for_seconds, rules["node.service_down"].severity) == (120, "critical")


def test_one_round_judges_several_grains_and_windows_from_one_read_per_cut():
    node = NodeFactory(hostname="mta1.example.net")
    now = timezone.now()
    slow = [event(time=now - dt.timedelta(minutes=2), node_id=node.pk, recipient_domain="slow.example",
                  delay_ms=120_000) for _ in range(20)]
    week_ago = [event(time=now - dt.timedelta(days=7, minutes=2), node_id=node.pk) for _ in range(100)]
    store_events(slow + week_ago)
    RuleFactory(name="p95 per domain", source="email.delivery_p95", threshold=60, for_seconds=0, group_by="domain")
    RuleFactory(name="drop per node", source="email.volume_drop", threshold=50, for_seconds=0, group_by="node",
                window_seconds=1800, min_volume=50)
    RuleFactory(name="fleet bounces", source="email.bounce_rate", threshold=1, for_seconds=0, group_by="fleet")
    evaluate_round(now=now)
    fired = {(a.rule.name, a.subject, round(a.value)) for a in Alert.objects.firing().select_related("rule")}
    assert fired == {("p95 per domain", "domain:slow.example", 117), ("drop per node", "node:mta1.example.net", 80)}
