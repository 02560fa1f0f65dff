"""The beat cycle, the engine switch, daily cleanup and provider detection."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from apps.core import timeseries
from apps.warmup import services, tasks
from apps.warmup.models import WarmupDay, WarmupEngine, WarmupSend
from apps.warmup.providers import provider_for_domain, provider_for_mx

from .factories import MailboxFactory

pytestmark = pytest.mark.django_db


def test_a_cycle_enqueues_its_sends_in_per_minute_batches_after_commit(django_capture_on_commit_callbacks,
                                                                       monkeypatch):
    MailboxFactory.create_batch(40)
    published = []
    monkeypatch.setattr(tasks.dispatch_batch, "apply_async",
                        lambda args, countdown: published.append((countdown, args[0])))
    with django_capture_on_commit_callbacks(execute=True):
        cycle = services.cycle_run()
    sent = [entry for _, entries in published for entry in entries]
    assert len(sent) == len(cycle.sends) > 0
    assert all(0 <= countdown < 900 and countdown % 60 == 0 for countdown, _ in published)
    assert all(0 <= offset < 60 for _, _, offset in sent)
    assert sum(d.planned for d in WarmupDay.objects.all()) == len(sent)
    engine = WarmupEngine.load()
    assert engine.last_cycle_planned == len(sent) and engine.last_cycle_at is not None


def test_a_stopped_engine_plans_nothing_unless_triggered():
    MailboxFactory.create_batch(40)
    services.engine_set_running(running=False, actor=None)
    assert services.cycle_run() is None
    assert not WarmupDay.objects.exists()
    assert services.cycle_run(force=True).sends


def test_a_second_cycle_in_the_same_slot_plans_nothing_new():
    MailboxFactory.create_batch(40)
    now = dt.datetime.combine(timezone.now().date(), dt.time.min, tzinfo=dt.UTC)  # on pace: nothing to catch up
    first = services.cycle_plan(now=now)
    assert first.sends and services.cycle_plan(now=now).sends == []


def test_daily_cleanup_drops_old_send_logs_and_day_counters(settings):
    box = MailboxFactory()
    now = timezone.now()
    old_day = now.date() - dt.timedelta(days=settings.MAILMON_WARMUP_SEND_RETENTION_DAYS + 2)
    timeseries.ensure_partitions(WarmupSend._meta.db_table, [old_day])
    for when in (dt.datetime.combine(old_day, dt.time(12), tzinfo=dt.UTC), now):
        WarmupSend.objects.create(time=when, mailbox=box, owner_user_id=box.owner_id, recipient="r@x.example.test",
                                  outcome="sent")
    WarmupDay.objects.create(mailbox=box, day=now.date() - dt.timedelta(days=31))
    WarmupDay.objects.create(mailbox=box, day=now.date() - dt.timedelta(days=29))
    tasks.cleanup()
    assert WarmupSend.objects.count() == 1
    assert list(WarmupDay.objects.values_list("day", flat=True)) == [now.date() - dt.timedelta(days=29)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [timeseries.partition_name(WarmupSend._meta.db_table, old_day)])
        assert cursor.fetchone()[0] is None


@pytest.mark.parametrize(
    ("hosts", "provider"),
    [
        (["alt1.aspmx.l.google.com.", "aspmx.l.google.com."], "gmail"),
        (["corp-com.mail.protection.outlook.com."], "microsoft"),
        (["mta7.am0.yahoodns.net."], "yahoo"),
        (["mx1.mailhost.example.org."], "example.org"),
        ([], "corp.example"),
    ],
)
def test_the_provider_comes_from_the_mx_hosts(hosts, provider):
    assert provider_for_mx(hosts, "corp.example") == provider


def test_special_use_domains_are_never_looked_up():
    # an unroutable nameserver: a lookup would fail after the timeout instead of answering at once
    for domain in ("corp.example.test", "localhost", "x.invalid", "[127.0.0.1]"):
        assert provider_for_domain(domain, nameservers=["192.0.2.1"], timeout=0.01) == domain.lower()
