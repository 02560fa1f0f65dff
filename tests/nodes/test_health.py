"""The health rules (apps/nodes/health.py): each threshold, and the reasons in words."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from apps.nodes.health import (
    CRITICAL,
    MAINTENANCE,
    OK,
    UNKNOWN,
    WARNING,
    Cause,
    Health,
    NodeSnapshot,
    Rates,
    Thresholds,
    combine,
    domain_health,
    ip_health,
    mta_health,
    node_health,
    queue_health,
)

T = Thresholds()
SEEN = dt.timedelta(seconds=10)


def online(**values) -> NodeSnapshot:
    return NodeSnapshot(status="online", silent_for=SEEN, **values)


def test_a_quiet_online_node_is_healthy():
    health = node_health(online(cpu_percent=20, memory_percent=40, disks={"/": {"used_percent": 30}}), T)
    assert health == Health(OK, ())


def test_an_offline_node_is_critical_and_says_for_how_long():
    health = node_health(NodeSnapshot(status="offline", silent_for=dt.timedelta(minutes=3, seconds=5)), T)
    assert health.status == CRITICAL
    assert health.reason == "offline, silent for 3 min"


def test_maintenance_and_never_reported_are_not_alarms():
    assert node_health(NodeSnapshot(status="maintenance"), T).status == MAINTENANCE
    assert node_health(NodeSnapshot(status="unknown"), T).status == UNKNOWN
    assert not node_health(NodeSnapshot(status="unknown"), T).needs_attention


def test_a_service_down_is_critical_and_named():
    health = node_health(online(services={"rspamd": False, "haraka": True, "redis": False}), T)
    assert health.status == CRITICAL
    assert health.reason == "redis, rspamd down"


def test_degraded_without_a_named_service_is_a_warning():
    assert node_health(NodeSnapshot(status="degraded", silent_for=SEEN), T) == Health(WARNING, ("degraded",))


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"cpu_percent": 90.0}, "CPU 90 %"),
        ({"memory_percent": 95.4}, "memory 95 %"),
        ({"disks": {"/": {"used_percent": 40}, "/var": {"used_percent": 91.2}}}, "disk /var 91 %"),
    ],
)
def test_each_resource_at_its_threshold_is_a_warning_with_the_figure(values, reason):
    assert node_health(online(**values), T) == Health(WARNING, (reason,))


def test_resources_just_under_their_thresholds_are_healthy():
    values = {"cpu_percent": 89.9, "memory_percent": 89.9, "disks": {"/": {"used_percent": 84.9}}}
    assert node_health(online(**values), T).status == OK


def test_a_queue_over_its_size_is_a_warning_and_critical_while_it_grows():
    assert queue_health(1200, 1150, T) == Health(WARNING, ("queue 1,200",))
    assert queue_health(1488, 874, T) == Health(CRITICAL, ("queue 1,488 and growing",))
    assert queue_health(999, None, T).status == OK


def test_a_small_queue_growing_fast_is_a_warning_but_a_tiny_one_is_not():
    assert queue_health(400, 200, T) == Health(WARNING, ("queue 400 and growing (from 200)",))
    assert queue_health(60, 5, T).status == OK  # under the floor of 100
    assert queue_health(400, 350, T).status == OK  # +14 % < 20 %


def test_thresholds_come_from_settings():
    t = Thresholds.from_settings(settings)
    assert t.queue_size == settings.MAILMON_HEALTH_QUEUE_SIZE
    assert t.deferral_warn == settings.MAILMON_HEALTH_DEFERRAL_WARN
    custom = Thresholds(cpu_percent=50)
    assert node_health(online(cpu_percent=60), custom).status == WARNING
    assert node_health(online(cpu_percent=60), T).status == OK


def _rates(sent: int, deferred: int = 0, bounced: int = 0, causes=()) -> Rates:
    return Rates(sent=sent, delivered=sent - deferred - bounced, deferred=deferred, bounced=bounced, causes=causes)


def test_deferrals_over_the_thresholds_name_the_domain_and_the_code():
    gmail = Cause(type="deferred", code="4.7.28", count=42, of=100, domain="gmail.com")
    health = ip_health(_rates(300, deferred=95, causes=(gmail,)), T)
    assert health.status == CRITICAL  # 31.7 % >= 30 %
    assert health.reason == "42.0 % of gmail.com deferred 4.7.28 in 15 min"
    assert ip_health(_rates(300, deferred=31), T).status == WARNING  # 10.3 %
    assert ip_health(_rates(300, deferred=29), T).status == OK  # 9.7 %


def test_bounces_over_the_thresholds_give_the_rate_and_the_code():
    listed = Cause(type="bounced", code="5.7.1", count=40, of=0)
    health = ip_health(_rates(254, bounced=40, causes=(listed,)), T)
    assert health == Health(CRITICAL, ("15.7 % bounced in 15 min (5.7.1)",))
    assert ip_health(_rates(200, bounced=10), T) == Health(WARNING, ("5.0 % bounced in 15 min",))
    assert ip_health(_rates(200, bounced=9), T).status == OK


def test_too_few_outcomes_are_not_judged():
    assert ip_health(_rates(19, bounced=19), T).status == OK
    assert ip_health(_rates(20, bounced=19), T).status == CRITICAL


def test_a_domain_reason_does_not_repeat_the_domain():
    cause = Cause(type="deferred", code="4.7.28", count=50, of=0)
    health = domain_health("gmail.com", _rates(100, deferred=50, causes=(cause,)), T)
    assert health.reason == "50.0 % deferred in 15 min (4.7.28)"


def test_an_mta_combines_its_queue_and_its_deliveries_in_one_sentence():
    gmail = Cause(type="deferred", code="4.7.28", count=42, of=100, domain="gmail.com")
    node = online(queue_size=1488, queue_before=874)
    health = mta_health(node, _rates(200, deferred=42, causes=(gmail,)), T)
    assert health.status == CRITICAL
    assert health.reason == "queue 1,488 and growing, 42.0 % of gmail.com deferred 4.7.28 in 15 min"


def test_combine_keeps_the_worst_status_and_only_unhealthy_reasons():
    assert combine(Health(WARNING, ("a",)), Health(OK, ("fine",)), Health(CRITICAL, ("b",))) == Health(
        CRITICAL, ("a", "b")
    )
    assert combine() == Health(OK, ())
