"""PTR checks against a real DNS server on loopback: forward-confirmed, mismatched, missing, IPv6, timeouts.

The ``dns_server`` fixture (tests/dnsbl) points ``MAILMON_DNS_RESOLVERS`` at a dnslib server
on 127.0.0.1 with a 0.3 s timeout and one try: a record with a 1 s delay never arrives.
"""

from __future__ import annotations

import pytest

from apps.core.dns import reverse_pointer
from apps.core.models import AuditLog
from apps.ips import tasks
from apps.ips.choices import IpStatus, PtrStatus
from apps.ips.models import SendingIP
from apps.ips.services_ptr import ips_ptr_check
from mailmon.beat import BEAT_SCHEDULE
from tests.dnsbl.dns_server import host, pointer
from tests.ips.factories import SendingIPFactory

pytestmark = pytest.mark.django_db
SLOW = 1.0  # past the fixture's 0.3 s timeout


def check(*ips: SendingIP) -> dict:
    summary = ips_ptr_check(ips=SendingIP.objects.filter(pk__in=[ip.pk for ip in ips]))
    for ip in ips:
        ip.refresh_from_db()
    return summary


def ptr_audits(ip: SendingIP):
    return AuditLog.objects.filter(action="ip.ptr_change", object_id=str(ip.pk)).order_by("id")


def test_reverse_names_are_in_addr_arpa_and_ip6_arpa_nibbles():
    assert reverse_pointer("198.51.100.10") == "10.100.51.198.in-addr.arpa"
    assert reverse_pointer("2001:db8::25") == (
        "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
    )


def test_a_ptr_whose_name_resolves_back_is_forward_confirmed_and_audited(dns_server):
    ip = SendingIPFactory(address="198.51.100.10")
    dns_server.records[reverse_pointer(ip.address)] = pointer("MTA1.Example.test.")
    dns_server.records["mta1.example.test"] = host("203.0.113.5", "198.51.100.10")
    summary = check(ip)
    assert (ip.ptr, ip.ptr_status, ip.ptr_detail) == ("mta1.example.test", PtrStatus.OK, "")
    assert ip.ptr_checked_at is not None
    assert summary["ok"] == 1 and summary["changed"] == 1
    (entry,) = ptr_audits(ip)
    assert entry.before == {"ptr": "", "ptr_status": "unchecked"}
    assert entry.after == {"ptr": "mta1.example.test", "ptr_status": "ok"}
    assert entry.actor_label == "ptr-checker"


def test_a_ptr_name_resolving_to_another_address_is_a_mismatch(dns_server):
    ip = SendingIPFactory(address="198.51.100.11")
    dns_server.records[reverse_pointer(ip.address)] = pointer("mta2.example.test")
    dns_server.records["mta2.example.test"] = host("203.0.113.9")
    check(ip)
    assert (ip.ptr, ip.ptr_status) == ("mta2.example.test", PtrStatus.MISMATCH)
    assert ip.ptr_detail == "mta2.example.test resolves to 203.0.113.9, not 198.51.100.11"


def test_a_ptr_name_that_does_not_resolve_is_a_mismatch(dns_server):
    ip = SendingIPFactory(address="198.51.100.12")
    dns_server.records[reverse_pointer(ip.address)] = pointer("gone.example.test")
    check(ip)
    assert ip.ptr_status == PtrStatus.MISMATCH
    assert ip.ptr_detail == "gone.example.test resolves to nothing, not 198.51.100.12"


def test_no_ptr_record_is_missing_and_clears_the_old_name(dns_server):
    ip = SendingIPFactory(address="198.51.100.13", ptr="old.example.test", ptr_status=PtrStatus.OK)
    check(ip)  # NXDOMAIN: the server has no record for it
    assert (ip.ptr, ip.ptr_status, ip.ptr_detail) == ("", PtrStatus.MISSING, "no PTR record")
    (entry,) = ptr_audits(ip)
    assert entry.before == {"ptr": "old.example.test", "ptr_status": "ok"}


def test_an_ipv6_address_is_asked_by_its_nibbles_and_confirmed_by_aaaa(dns_server):
    ip = SendingIPFactory(address="2001:db8::25")
    nibbles = reverse_pointer(ip.address)
    dns_server.records[nibbles] = pointer("mta6.example.test")
    # Another spelling of the same address, and an A record that must not count for an IPv6 address.
    dns_server.records["mta6.example.test"] = host("2001:db8:0:0:0:0:0:25", "198.51.100.25")
    check(ip)
    assert (ip.ptr, ip.ptr_status) == ("mta6.example.test", PtrStatus.OK)
    assert (nibbles, "PTR") in dns_server.queries
    assert ("mta6.example.test", "AAAA") in dns_server.queries
    assert ("mta6.example.test", "A") not in dns_server.queries


def test_of_several_ptr_names_the_confirmed_one_is_kept(dns_server):
    ip = SendingIPFactory(address="198.51.100.14")
    dns_server.records[reverse_pointer(ip.address)] = pointer("alias.example.test", "real.example.test")
    dns_server.records["alias.example.test"] = host("203.0.113.1")
    dns_server.records["real.example.test"] = host("198.51.100.14")
    check(ip)
    assert (ip.ptr, ip.ptr_status) == ("real.example.test", PtrStatus.OK)


def test_a_timeout_records_the_error_and_keeps_the_last_known_name(dns_server):
    ip = SendingIPFactory(address="198.51.100.15")
    dns_server.records[reverse_pointer(ip.address)] = pointer("mta1.example.test")
    dns_server.records["mta1.example.test"] = host("198.51.100.15")
    check(ip)
    assert ip.ptr_status == PtrStatus.OK
    dns_server.records[reverse_pointer(ip.address)] = pointer("mta1.example.test", delay=SLOW)  # stops answering
    summary = check(ip)
    assert (ip.ptr, ip.ptr_status, ip.ptr_detail) == ("mta1.example.test", PtrStatus.ERROR, "PTR lookup: timeout")
    assert summary["error"] == 1
    assert [e.after for e in ptr_audits(ip)] == [
        {"ptr": "mta1.example.test", "ptr_status": "ok"}, {"ptr_status": "error"},
    ]


def test_a_forward_lookup_timeout_is_an_error_not_a_mismatch(dns_server):
    ip = SendingIPFactory(address="198.51.100.16", ptr="mta1.example.test", ptr_status=PtrStatus.OK)
    dns_server.records[reverse_pointer(ip.address)] = pointer("mta1.example.test")
    dns_server.records["mta1.example.test"] = host("198.51.100.16", delay=SLOW)
    check(ip)
    assert (ip.ptr, ip.ptr_status) == ("mta1.example.test", PtrStatus.ERROR)
    assert ip.ptr_detail == "forward lookup of mta1.example.test: timeout"


def test_a_resolver_that_never_answers_times_out_every_ip_and_keeps_their_names(settings, db):
    import socket

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read: no answer ever comes
    silent.bind(("127.0.0.1", 0))
    settings.MAILMON_DNS_RESOLVERS = [f"127.0.0.1:{silent.getsockname()[1]}"]
    settings.MAILMON_DNS_TIMEOUT, settings.MAILMON_DNS_TRIES = 0.2, 1
    try:
        ips = [SendingIPFactory(address=f"198.51.100.{20 + i}", ptr=f"mta{i}.example.test") for i in range(3)]
        summary = check(*ips)
    finally:
        silent.close()
    assert summary["error"] == 3
    assert [(ip.ptr, ip.ptr_status) for ip in ips] == [(f"mta{i}.example.test", "error") for i in range(3)]


def test_an_unchanged_outcome_writes_no_new_audit_entry(dns_server):
    ip = SendingIPFactory(address="198.51.100.17")
    dns_server.records[reverse_pointer(ip.address)] = pointer("mta1.example.test")
    dns_server.records["mta1.example.test"] = host("198.51.100.17")
    check(ip)
    first = ip.ptr_checked_at
    assert check(ip)["changed"] == 0
    assert ptr_audits(ip).count() == 1
    assert ip.ptr_checked_at > first


def test_the_scheduled_task_checks_every_ip_but_retired_ones(dns_server):
    live = SendingIPFactory(address="198.51.100.30")
    retired = SendingIPFactory(address="198.51.100.31", status=IpStatus.RETIRED)
    summary = tasks.ptr_check_all_task()
    live.refresh_from_db()
    retired.refresh_from_db()
    assert summary["checked"] == 1
    assert (live.ptr_status, retired.ptr_status) == (PtrStatus.MISSING, PtrStatus.UNCHECKED)


def test_beat_runs_the_check_daily_by_default():
    entry = BEAT_SCHEDULE["ips-ptr-check"]
    assert entry["task"] == tasks.ptr_check_all_task.name
    assert entry["schedule"] == 24 * 3600


# --- Pages and API: the PTR column, the filter, "check PTR now" ---


@pytest.fixture
def checked(db):
    return {
        "ok": SendingIPFactory(address="198.51.100.40", ptr="ok.example.test", ptr_status=PtrStatus.OK),
        "mismatch": SendingIPFactory(address="198.51.100.41", ptr="bad.example.test", ptr_status=PtrStatus.MISMATCH,
                                     ptr_detail="bad.example.test resolves to 203.0.113.9, not 198.51.100.41"),
        "missing": SendingIPFactory(address="198.51.100.42", ptr_status=PtrStatus.MISSING),
    }


def test_the_table_flags_a_mismatch_and_filters_by_ptr_status(viewer_client, checked):
    page = viewer_client.get("/ips/").content.decode()
    assert 'class="badge ptr-mismatch" title="bad.example.test resolves to 203.0.113.9' in page
    assert 'class="badge ptr-missing"' in page
    filtered = viewer_client.get("/ips/", {"ptr_status": "mismatch"}).content.decode()
    assert 'data-ip="198.51.100.41"' in filtered and 'data-ip="198.51.100.40"' not in filtered
    assert viewer_client.get("/ips/", {"ptr_status": "bogus"}).status_code == 400


def test_the_api_lists_ptr_fields_and_filters_by_ptr_status(viewer_client, checked):
    body = viewer_client.get("/api/v1/ips", {"ptr_status": "mismatch"}).json()
    assert [row["address"] for row in body["results"]] == ["198.51.100.41"]
    row = body["results"][0]
    assert (row["ptr"], row["ptr_status"]) == ("bad.example.test", "mismatch")
    assert row["ptr_detail"].startswith("bad.example.test resolves to")
    assert "ptr_checked_at" in row
    bad = viewer_client.get("/api/v1/ips", {"ptr_status": "bogus"})
    assert bad.status_code == 400 and "ptr_status" in bad.json()


def test_check_ptr_now_on_the_page_confirms_then_queues_the_selection(operator_client, checked, dns_server,
                                                                     monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.ptr_check_task, "delay", lambda **kwargs: queued.append(kwargs))
    picked = [checked["ok"].pk, checked["missing"].pk]
    form = {"action": "check_ptr", "ip": picked}
    confirm = operator_client.post("/ips/bulk", form).content.decode()
    assert "2 IPs will be checked" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        done = operator_client.post("/ips/bulk", {**form, "confirmed": "1"}).content.decode()
    assert "PTR check of 2 IPs queued" in done
    assert queued == [{"ip_ids": sorted(picked), "requested_by": "ptr-checker (asked by operator)"}]
    tasks.ptr_check_task(**queued[0])  # what the worker runs: the server knows neither, so both are missing now
    checked["ok"].refresh_from_db()
    assert checked["ok"].ptr_status == PtrStatus.MISSING
    assert ptr_audits(checked["ok"]).get().actor_label == "ptr-checker (asked by operator)"
    assert AuditLog.objects.filter(action="ip.ptr_check_now").count() == 1


def test_check_ptr_now_in_the_api_takes_addresses_or_a_filter(operator_client, checked, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.ptr_check_task, "delay", lambda **kwargs: queued.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        by_filter = operator_client.post("/api/v1/ips/ptr/check", {"filter": {"ptr_status": "mismatch"}},
                                         content_type="application/json")
    assert by_filter.status_code == 202 and by_filter.json() == {"queued": 1}
    assert queued[0]["ip_ids"] == [checked["mismatch"].pk]
    unknown = operator_client.post("/api/v1/ips/ptr/check", {"ips": ["203.0.113.77"]}, content_type="application/json")
    assert unknown.status_code == 400 and "ips" in unknown.json()


def test_a_viewer_cannot_ask_for_a_check(viewer_client, checked):
    response = viewer_client.post("/api/v1/ips/ptr/check", {"ips": ["198.51.100.40"]}, content_type="application/json")
    assert response.status_code == 403
