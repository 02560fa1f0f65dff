"""Beat slices, chunk tasks with live progress, the per-zone rate limit, and manage.py dnsbl_check."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import TestCase

from apps.core.redis import get_redis
from apps.dnsbl import services, tasks
from apps.dnsbl.checker import ZoneSpec
from apps.dnsbl.models import DnsblState
from apps.dnsbl.ratelimit import RedisZoneLimiter
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory

from .dns_server import listed

pytestmark = pytest.mark.django_db


def test_each_minute_queues_its_slice_so_every_ip_is_checked_once_per_interval(settings, monkeypatch):
    settings.MAILMON_DNSBL_INTERVAL_MINUTES = 3
    settings.MAILMON_DNSBL_CHUNK_IPS = 2
    ips = [SendingIPFactory() for _ in range(9)]
    SendingIPFactory(status=IpStatus.RETIRED)
    sent: list[list[int]] = []
    monkeypatch.setattr(tasks.check_chunk_task, "apply_async", lambda kwargs, **opts: sent.append(kwargs["ip_ids"]))
    start = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    for minute in range(3):
        services.dnsbl_due_dispatch(now=start + dt.timedelta(minutes=minute))
    checked = [pk for chunk in sent for pk in chunk]
    assert sorted(checked) == sorted(ip.pk for ip in ips)  # each once, retired never
    assert max(len(chunk) for chunk in sent) <= 2


def test_a_chunk_task_checks_its_ips_and_reports_progress_on_the_live_stream(zones, dns_server, monkeypatch):
    ip = SendingIPFactory(address="198.51.100.7")
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.2")
    get_redis().hset("dnsbl:run:r1", mapping={"total": 1, "done": 0})
    sent = []
    monkeypatch.setattr(services, "broadcast", lambda stream, event, data: sent.append((stream, event, data)))
    with TestCase.captureOnCommitCallbacks(execute=True):
        tasks.check_chunk_task(ip_ids=[ip.pk], run="r1")
    assert [(stream, event) for stream, event, _ in sent] == [("dnsbl", "round"), ("dnsbl", "progress")]
    progress = sent[1][2]
    assert (progress["run"], progress["done"], progress["total"], progress["listed"]) == ("r1", 1, 1, 1)
    assert DnsblState.objects.get(ip=ip, zone=zones["zen"]).state == "listed"
    assert services.dnsbl_run_progress("r1") == {"total": 1, "done": 1}


def test_the_zone_rate_limit_holds_across_two_checkers_sharing_redis():
    zone = ZoneSpec(id=1, name="slow.test", query_zone="slow.test", kind="ip", canary_listed="", canary_clean="",
                    max_qps=20)

    async def take(n: int) -> None:
        first, second = RedisZoneLimiter(settings.CACHES["default"]["LOCATION"]), \
            RedisZoneLimiter(settings.CACHES["default"]["LOCATION"])
        await asyncio.gather(*(limiter.acquire(zone) for limiter in (first, second) for _ in range(n)))

    started = time.monotonic()
    asyncio.run(take(30))  # 60 queries at 20/s across both: at least two more windows
    assert time.monotonic() - started >= 1.9


def test_the_command_runs_one_round_and_prints_a_summary(zones, dns_server):
    SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="198.51.100.8")
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.4")
    out, err = io.StringIO(), io.StringIO()
    call_command("dnsbl_check", stdout=out, stderr=err)
    text = out.getvalue()
    assert "checked 2 IPs and 0 domains: 1 listed, 3 clean, 0 errors" in text
    assert "newly listed: 198.51.100.7 zen.test 127.0.0.4 XBL" in text
    assert "zones failing canaries (not trusted): broken.test" in text


def test_the_command_checks_only_the_named_ips(zones, dns_server):
    SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="198.51.100.8")
    out = io.StringIO()
    call_command("dnsbl_check", "--ip", "198.51.100.8", stdout=out)
    assert "checked 1 IPs" in out.getvalue()
    assert set(DnsblState.objects.values_list("ip__address", flat=True)) == {"198.51.100.8"}


def test_the_command_refuses_an_unknown_ip(db):
    with pytest.raises(CommandError, match="--ip: not a sending IP: 192.0.2.1"):
        call_command("dnsbl_check", "--ip", "192.0.2.1")


def test_check_now_dispatches_chunks_after_commit(operator_client, settings, monkeypatch):
    settings.MAILMON_DNSBL_CHUNK_IPS = 2
    for n in range(5):
        SendingIPFactory(address=f"198.51.100.{n + 1}")
    sent = []
    monkeypatch.setattr(tasks.check_chunk_task, "delay", lambda **kwargs: sent.append(kwargs))
    with TestCase.captureOnCommitCallbacks(execute=True):
        run = services.dnsbl_check_request(ips=list(SendingIP.objects.all()), actor=operator_client.user)
    assert run["chunks"] == 3 and [len(s["ip_ids"]) for s in sent] == [2, 2, 1]
    assert {s["run"] for s in sent} == {run["run"]}
