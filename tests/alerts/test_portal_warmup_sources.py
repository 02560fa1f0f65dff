"""portal.api_p95 from the portal's own request metrics; ip.warmup_held from the IP warmup state."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from apps.alerts.evaluate import evaluate_round
from apps.alerts.models import Alert
from apps.alerts.services import rule_preview
from apps.ips.models import WarmupSchedule
from apps.ips.services_warmup import ip_warmup_set, warmup_advance_all
from tests.ips.factories import SendingIPFactory
from tests.ips.test_warmup import send
from tests.nodes.factories import NodeFactory
from tests.pools.factories import IpPoolFactory

from .factories import RuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    """A client whose first (slowest: URLs, middleware loaded) request was not an API one."""
    client = Client()
    client.get("/health/live")
    return client


def _call(client: Client, ms: int, times: int) -> None:
    for _ in range(times):
        assert client.get("/api/v1/test/slow", {"ms": ms}).status_code == 200


@pytest.mark.urls("tests.alerts.slow_urls")
def test_slow_api_responses_fire_the_api_p95_rule_and_it_resolves_once_they_age_out(client):
    rule = RuleFactory(name="api slow", source="portal.api_p95", threshold=0.25, for_seconds=0, window_seconds=300,
                       min_volume=10)
    _call(client, 0, 10)
    evaluate_round()
    assert not Alert.objects.exists()
    assert rule_preview(rule=rule)["subjects"] == 1  # judged (10 requests), just not slow
    _call(client, 300, 2)  # 2 of 12 answer in 0.3 s: the p95 lies among them
    now = timezone.now()
    evaluate_round(now=now)
    alert = Alert.objects.firing().get()
    assert alert.subject == "fleet" and 0.25 < alert.value <= 0.5
    evaluate_round(now=now + dt.timedelta(minutes=7))  # the window holds no request any more
    alert.refresh_from_db()
    assert alert.status == "resolved"


@pytest.mark.urls("tests.alerts.slow_urls")
def test_the_api_p95_rule_ignores_pages_and_too_few_requests(client):
    RuleFactory(name="api slow", source="portal.api_p95", threshold=0.25, for_seconds=0, min_volume=5)
    _call(client, 300, 4)  # slow, but 4 requests < min_volume
    client.get("/accounts/login/")  # a page: not an API request
    evaluate_round()
    assert not Alert.objects.exists()
    _call(client, 300, 1)
    evaluate_round()
    assert Alert.objects.firing().get().value > 0.25


@pytest.fixture
def held():
    schedule = WarmupSchedule.objects.create(name="tiny", limits=[50, 100, 200])
    node = NodeFactory(hostname="mta1.example.net", role="zonemta-outbound")
    pool = IpPoolFactory(name="warm")
    ip = SendingIPFactory(address="198.51.100.9", node=node, pool=pool)
    calm = SendingIPFactory(address="198.51.100.10", node=node, pool=pool)
    start = dt.date(2026, 11, 20)
    for address in (ip, calm):
        ip_warmup_set(ip=address, schedule=schedule, started_on=start, actor=None)
    send(ip, start, delivered=30, deferred=10)  # 25 % deferred: held on day 1
    send(calm, start, delivered=40)
    assert warmup_advance_all(today=start + dt.timedelta(days=1)) == {"advance": 1, "hold": 1, "complete": 0,
                                                                      "idle": 0}
    ip.day_after = start + dt.timedelta(days=2)
    return ip


def test_a_held_ip_fires_and_resolves_when_it_advances(held):
    rule = RuleFactory(name="held", source="ip.warmup_held", threshold=0, for_seconds=0, scope="pool:warm")
    assert rule_preview(rule=rule)["subjects"] == 2  # both IPs in warmup are judged
    evaluate_round()
    alert = Alert.objects.firing().get()
    assert (alert.subject, alert.value) == ("ip:198.51.100.9", 1.0)
    send(held, held.day_after - dt.timedelta(days=1), delivered=40)
    assert warmup_advance_all(today=held.day_after)["advance"] == 1  # the other IP sent nothing: idle
    evaluate_round()
    alert.refresh_from_db()
    assert alert.status == "resolved"


def test_a_hold_is_cleared_by_moving_the_ip_by_hand_and_scopes_filter_it(held):
    RuleFactory(name="other node", source="ip.warmup_held", threshold=0, for_seconds=0, scope="node:mta9.example.net")
    RuleFactory(name="fleet", source="ip.warmup_held", threshold=0, for_seconds=0)
    RuleFactory(name="this ip", source="ip.warmup_held", threshold=0, for_seconds=0, scope="ip:198.51.100.9")
    evaluate_round()
    assert sorted(Alert.objects.firing().values_list("rule__name", flat=True)) == ["fleet", "this ip"]
    ip_warmup_set(ip=held, schedule=held.warmup_schedule, day=1, actor=None, reason="retry day 1")
    evaluate_round()
    assert not Alert.objects.firing().exists()
