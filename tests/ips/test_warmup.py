"""IP warmup over simulated days: sending days advance, bad days hold, idle days wait, the end is warm."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.core.models import AuditLog
from apps.ips.models import SendingIP, WarmupSchedule
from apps.ips.selectors import warmup_performing_well
from apps.ips.services_warmup import ip_warmup_set, warmup_advance_all, warmup_decide
from apps.ips.tasks import warmup_advance_task
from tests.events.factories import event, store_events
from tests.ips.factories import SendingIPFactory

pytestmark = pytest.mark.django_db
START = dt.date(2026, 11, 20)


def send(ip: SendingIP, day: dt.date, delivered: int, **others: int) -> None:
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    rows = [event(time=noon, node_id=ip.node_id, sending_ip=ip.address) for _ in range(delivered)]
    for kind, n in others.items():
        extra = {"status_code": 421, "enhanced_status": "4.7.28", "bounce_category": "rate_limited"}
        rows += [event(time=noon, node_id=ip.node_id, sending_ip=ip.address, type=kind, **extra) for _ in range(n)]
    store_events(rows)


@pytest.fixture
def warming():
    schedule = WarmupSchedule.objects.create(name="tiny", limits=[50, 100, 200])
    ip = SendingIPFactory(address="198.51.100.9")
    return ip_warmup_set(ip=ip, schedule=schedule, started_on=START, actor=None, reason="new range")


def test_the_default_schedules_are_seeded():
    default = WarmupSchedule.objects.get(name="default")
    assert default.is_default and default.days == 30 and default.limits[:4] == [50, 100, 200, 400]
    assert WarmupSchedule.objects.get(name="conservative").days > default.days


def test_starting_a_warmup_sets_day_one_and_its_limit_audited(warming):
    assert (warming.warmup_day, warming.daily_limit, warming.warmup_started_on) == (1, 50, START)
    assert AuditLog.objects.get(action="ip.warmup").reason == "new range"


def test_a_good_sending_day_advances_and_an_idle_day_waits(warming):
    send(warming, START, delivered=40)
    assert warmup_advance_all(today=START + dt.timedelta(days=1))["advance"] == 1
    warming.refresh_from_db()
    assert (warming.warmup_day, warming.daily_limit) == (2, 100)
    # A day without attempts is not a sending day: the IP stays on day 2.
    assert warmup_advance_all(today=START + dt.timedelta(days=2))["idle"] == 1
    warming.refresh_from_db()
    assert warming.warmup_day == 2
    audit = AuditLog.objects.get(action="ip.warmup_advance")
    assert "40 sent" in audit.reason and audit.before["warmup_day"] == 1 and audit.after["warmup_day"] == 2


def test_a_second_run_on_the_same_day_changes_nothing(warming):
    send(warming, START, delivered=40)
    warmup_advance_all(today=START + dt.timedelta(days=1))
    assert warmup_advance_all(today=START + dt.timedelta(days=1)) == {"advance": 0, "hold": 0, "complete": 0,
                                                                      "idle": 0}


def test_a_high_deferral_rate_holds_the_ip_on_its_day_with_the_provider_reason(warming):
    send(warming, START, delivered=30, deferred=10)  # Gmail 421 4.7.28: 25 % deferred
    assert warmup_advance_all(today=START + dt.timedelta(days=1))["hold"] == 1
    warming.refresh_from_db()
    assert (warming.warmup_day, warming.daily_limit) == (1, 50)
    reason = AuditLog.objects.get(action="ip.warmup_hold").reason
    assert "deferral rate 25.0%" in reason and "4.7.28" in reason


def test_a_high_bounce_rate_holds(warming):
    send(warming, START, delivered=18, bounced=2)
    warmup_advance_all(today=START + dt.timedelta(days=1))
    warming.refresh_from_db()
    assert warming.warmup_day == 1
    assert "bounce rate 10.0%" in AuditLog.objects.get(action="ip.warmup_hold").reason


def test_past_the_last_day_the_ip_is_warm_without_a_limit(warming):
    for offset in range(3):
        send(warming, START + dt.timedelta(days=offset), delivered=10)
        warmup_advance_all(today=START + dt.timedelta(days=offset + 1))
    warming.refresh_from_db()
    assert (warming.warmup_schedule, warming.warmup_day, warming.daily_limit) == (None, None, None)
    assert AuditLog.objects.filter(action="ip.warmup_complete").count() == 1


def test_performing_well_needs_three_good_sending_days(warming):
    today = START + dt.timedelta(days=3)
    for offset in range(3):
        send(warming, START + dt.timedelta(days=offset), delivered=100)
    assert warmup_performing_well(addresses=[warming.address], today=today, good_rate=0.02) == {warming.address}
    send(warming, START, delivered=0, bounced=3)
    assert warmup_performing_well(addresses=[warming.address], today=today, good_rate=0.02) == set()


def test_the_rules_alone():
    assert warmup_decide(outcome=None, max_bounce=0.05, max_deferral=0.1).verdict == "idle"
    ok = {"sent": 100, "bounced": 5, "deferred": 10, "top_deferral": ""}
    assert warmup_decide(outcome=ok, max_bounce=0.05, max_deferral=0.1).verdict == "advance"  # at, not over


def test_the_task_calls_the_service(warming):
    assert set(warmup_advance_task()) == {"advance", "hold", "complete", "idle"}


def test_ending_a_warmup_removes_the_limit(warming):
    ip_warmup_set(ip=warming, schedule=None, actor=None)
    warming.refresh_from_db()
    assert (warming.warmup_day, warming.daily_limit) == (None, None)


def test_the_warmup_page_shows_progress_usage_and_the_curve(viewer_client, warming):
    send(warming, dt.date.today(), delivered=7)
    response = viewer_client.get("/ips/warmup/", {"ip": warming.address})
    assert response.status_code == 200
    html = response.content.decode()
    assert "day 1 of 3" in html and "7 / 50" in html
    assert 'data-chart="warmup-curve"' in html and '"name":"sent"' in html


def test_an_operator_edits_a_warmup_from_the_page(operator_client, warming):
    response = operator_client.post("/ips/warmup/set", {"address": warming.address, "schedule": "tiny", "day": "2"})
    assert response.status_code == 302
    warming.refresh_from_db()
    assert (warming.warmup_day, warming.daily_limit) == (2, 100)
    operator_client.post("/ips/warmup/set", {"address": warming.address, "schedule": "tiny", "day": "9"})
    warming.refresh_from_db()
    assert warming.warmup_day == 2  # refused: tiny has 3 days
