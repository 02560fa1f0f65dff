"""Applying answers: history, listed-since/delisted-at, auto-pause and resume, reputation, warnings."""

from __future__ import annotations

import pytest
from django.test import TestCase

from apps.core.models import AuditLog
from apps.dnsbl import hooks
from apps.dnsbl.choices import Outcome, ZoneHealth
from apps.dnsbl.models import DnsblAutoPause, DnsblChange, DnsblDomain, DnsblState, DnsblZone
from apps.dnsbl.services import dnsbl_round_run, reputation_score
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory

from .dns_server import SERVFAIL, listed

pytestmark = pytest.mark.django_db

IP = "198.51.100.7"
ZEN_NAME = "7.100.51.198.zen.test"


@pytest.fixture
def notices():
    received: list[dict] = []
    hooks.subscribe(received.append)
    yield received
    hooks.unsubscribe(received.append)


def _run(*ips: SendingIP, domains=()) -> dict:
    """One round, with its after-commit work (notices, live broadcast) run as in production."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return dnsbl_round_run(ips=[SendingIP.objects.get(pk=ip.pk) for ip in ips], domains=list(domains)).as_dict()


def _ip(address: str = IP, **fields) -> SendingIP:
    return SendingIPFactory(address=address, **fields)


def test_the_seeded_registry_has_the_zones_the_issue_names_and_no_sorbs(db):
    names = set(DnsblZone.objects.values_list("name", flat=True))
    assert {"zen.spamhaus.org", "dbl.spamhaus.org", "b.barracudacentral.org", "bl.spamcop.net", "psbl.surriel.com",
            "bl.mailspike.net", "dnsbl-1.uceprotect.net", "dnsbl-2.uceprotect.net", "dnsbl-3.uceprotect.net"} <= names
    assert not [n for n in names if "sorbs" in n]
    zen = DnsblZone.objects.get(name="zen.spamhaus.org")
    assert zen.meaning("127.0.0.2").startswith("SBL") and zen.meaning("127.0.0.11").startswith("PBL")
    assert not DnsblZone.objects.filter(name__contains="uceprotect", may_pause=True).exists()
    assert DnsblZone.objects.get(name="dbl.spamhaus.org").kind == "domain"


def test_a_dqs_key_moves_the_queries_to_the_keys_zone(db):
    zen = DnsblZone.objects.get(name="zen.spamhaus.org")
    zen.dqs_key = "k3y"
    assert zen.query_zone == "k3y.zen.dq.spamhaus.net"


def test_a_listing_is_stored_with_code_meaning_reason_and_listed_since(zones, dns_server):
    ip = _ip()
    dns_server.records[ZEN_NAME] = listed("127.0.0.4", txt="see https://example.test")
    summary = _run(ip)
    assert summary["listed"] == 1 and summary["unhealthy_zones"] == ["broken.test"]
    state = DnsblState.objects.get(ip=ip, zone=zones["zen"])
    assert (state.state, state.code, state.meaning, state.reason) == ("listed", "127.0.0.4", "XBL",
                                                                       "see https://example.test")
    assert state.listed_since is not None and state.listed_streak == 1
    assert DnsblState.objects.get(ip=ip, zone=zones["info"]).state == Outcome.CLEAN
    assert not DnsblState.objects.filter(zone=zones["broken"]).exists()  # untrusted answers are not stored


def test_only_state_changes_are_recorded_in_the_history(zones, dns_server):
    ip = _ip()
    _run(ip)
    _run(ip)  # clean again: no new change
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    dns_server.records[ZEN_NAME] = listed("127.0.0.10")  # another code is a change too
    _run(ip)
    del dns_server.records[ZEN_NAME]
    _run(ip)
    history = list(DnsblChange.objects.filter(ip=ip, zone=zones["zen"]).order_by("id")
                   .values_list("previous", "state", "code"))
    assert history == [("", "clean", ""), ("clean", "listed", "127.0.0.2"), ("listed", "listed", "127.0.0.10"),
                       ("listed", "clean", "")]
    state = DnsblState.objects.get(ip=ip, zone=zones["zen"])
    assert state.delisted_at is not None and state.listed_since is not None


def test_an_ip_is_paused_after_two_consecutive_listings_with_an_audit_entry_naming_zone_and_code(
    zones, dns_server, notices
):
    ip = _ip()
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE  # never on one check
    summary = _run(ip)
    assert summary["paused"] == [IP]
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.PAUSED
    entry = AuditLog.objects.get(action="ip.paused")
    assert "zen.test" in entry.reason and "127.0.0.2" in entry.reason and "SBL" in entry.reason
    assert entry.actor_label == "dnsbl-checker"
    assert [n["kind"] for n in notices if n["kind"] == "ip_paused"] == ["ip_paused"]
    assert DnsblAutoPause.objects.get(ip=ip, resumed_at__isnull=True).code == "127.0.0.2"


def test_errors_never_pause_and_do_not_break_a_streak(zones, dns_server):
    ip = _ip()
    dns_server.records[ZEN_NAME] = SERVFAIL
    _run(ip)
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE
    state = DnsblState.objects.get(ip=ip, zone=zones["zen"])
    assert (state.state, state.error, state.error_streak) == (Outcome.ERROR, "SERVFAIL", 2)
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    dns_server.records[ZEN_NAME] = listed("127.255.255.254")  # error code: not a listing, streak kept
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.PAUSED


def test_an_informational_zone_never_pauses(zones, dns_server):
    ip = _ip()
    dns_server.records["7.100.51.198.info.test"] = listed("127.0.0.2")
    for _ in range(3):
        _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE
    assert SendingIP.objects.get(pk=ip.pk).reputation_score == 95


def test_an_ip_paused_by_an_operator_is_not_taken_over(zones, dns_server):
    ip = _ip(status=IpStatus.PAUSED)
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    _run(ip)
    assert not DnsblAutoPause.objects.exists()


def test_a_paused_ip_resumes_after_n_clean_checks(zones, dns_server, settings, notices):
    settings.MAILMON_DNSBL_RESUME_AFTER = 2
    ip = _ip()
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    _run(ip)
    del dns_server.records[ZEN_NAME]
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.PAUSED  # one clean check is not enough
    assert _run(ip)["resumed"] == [IP]
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE
    assert AuditLog.objects.filter(action="ip.active", reason__contains="2 consecutive checks").exists()
    assert "ip_resumed" in [n["kind"] for n in notices]
    assert DnsblAutoPause.objects.get(ip=ip).resumed_at is not None


def test_with_auto_resume_off_the_checker_only_notifies_once(zones, dns_server, settings, notices):
    settings.MAILMON_DNSBL_RESUME_AFTER = 1
    settings.MAILMON_DNSBL_AUTO_RESUME = False
    ip = _ip()
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    _run(ip)
    _run(ip)
    del dns_server.records[ZEN_NAME]
    _run(ip)
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.PAUSED
    assert [n["kind"] for n in notices].count("resume_due") == 1


def test_the_reputation_score_falls_with_weighted_listings_and_recovers():
    assert reputation_score([]) == 100
    assert reputation_score([40, 5]) == 55
    assert reputation_score([40, 40, 40]) == 0


def test_the_reputation_score_is_stored_on_the_sending_ip(zones, dns_server):
    ip = _ip()
    dns_server.records[ZEN_NAME] = listed("127.0.0.2")
    dns_server.records["7.100.51.198.info.test"] = listed("127.0.0.2")
    _run(ip)
    assert SendingIP.objects.get(pk=ip.pk).reputation_score == 55


def test_domains_are_checked_on_domain_lists_only(zones, dns_server):
    domain = DnsblDomain.objects.create(name="news.example.com")
    dns_server.records["news.example.com.dbl.test"] = listed("127.0.1.2", txt="spam domain")
    _run(domains=[domain])
    (state,) = DnsblState.objects.filter(domain=domain)
    assert (state.zone_id, state.state, state.meaning) == (zones["dbl"].pk, Outcome.LISTED, "spam domain")


def test_repeated_errors_raise_a_resolver_misconfigured_warning(zones, dns_server, settings, notices):
    settings.MAILMON_DNSBL_ERROR_WARN_RUNS = 2
    ip = _ip()
    dns_server.records["2.0.0.127.zen.test"] = listed("127.255.255.254")  # what Spamhaus says to 8.8.8.8
    assert _run(ip)["warnings"] == []
    summary = _run(ip)
    zen = DnsblZone.objects.get(pk=zones["zen"].pk)
    assert zen.health == ZoneHealth.UNHEALTHY and zen.error_runs == 2
    assert "public/open resolver" in zen.last_error
    assert any("zen.test" in w and "MAILMON_DNS_RESOLVERS" in w for w in summary["warnings"])
    assert [n["kind"] for n in notices].count("resolver_misconfigured") == 1
    assert SendingIP.objects.get(pk=ip.pk).status == IpStatus.ACTIVE


def test_a_failing_subscriber_does_not_stop_the_checker(zones, dns_server, notices):
    def broken(notice):
        raise RuntimeError("alerts module down")

    hooks.subscribe(broken)
    try:
        dns_server.records[ZEN_NAME] = listed("127.0.0.2")
        _run(_ip())
    finally:
        hooks.unsubscribe(broken)
    assert "listed" in [n["kind"] for n in notices]
