"""Reputation pages: overview with charts and empty states, IP history, zone health, check now."""

from __future__ import annotations

import pytest
from django.test import TestCase

from apps.core.models import AuditLog
from apps.core.redis import get_redis
from apps.dnsbl.services import dnsbl_round_run
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory

from .dns_server import listed

pytestmark = pytest.mark.django_db


def _round(*ips):
    with TestCase.captureOnCommitCallbacks(execute=True):
        dnsbl_round_run(ips=[SendingIP.objects.get(pk=ip.pk) for ip in ips])


def test_the_overview_says_plainly_when_nothing_is_listed_or_checked(viewer_client):
    html = viewer_client.get("/dnsbl/").content.decode()
    assert "Blacklist overview" in html
    assert "No sending IP or domain is listed on any zone." in html
    assert "Nothing is listed on any zone." in html and "No checks recorded yet." in html
    assert 'data-live-streams="dnsbl"' in html
    assert "Not built yet" not in html


def test_the_overview_lists_current_listings_with_meaning_and_charts(viewer_client, zones, dns_server):
    ip = SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="198.51.100.8")
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.4", txt="https://example.test/lookup")
    _round(*SendingIP.objects.all())
    html = viewer_client.get("/dnsbl/").content.decode()
    assert "198.51.100.7" in html and "198.51.100.8" not in html.split('id="listing-table"')[1]
    assert "XBL" in html and "https://example.test/lookup" in html
    assert 'id="fig-dnsbl-by-zone"' in html and 'id="fig-dnsbl-trend"' in html
    assert f'href="/dnsbl/ips/{ip.address}/"' in html


def test_the_zone_filter_returns_only_the_listings_partial(viewer_client, zones, dns_server):
    SendingIPFactory(address="198.51.100.7")
    dns_server.records["7.100.51.198.info.test"] = listed("127.0.0.2")
    _round(*SendingIP.objects.all())
    html = viewer_client.get("/dnsbl/?zone=zen.test", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and "Nothing is listed on zen.test." in html
    assert "198.51.100.7" in viewer_client.get("/dnsbl/?zone=info.test").content.decode()


def test_the_overview_query_count_does_not_grow_with_listings(viewer_client, zones, dns_server,
                                                              django_assert_max_num_queries):
    for n in range(20):
        SendingIPFactory(address=f"198.51.100.{n + 1}")
        dns_server.records[f"{n + 1}.100.51.198.zen.test"] = listed("127.0.0.2")
    _round(*SendingIP.objects.all())
    with django_assert_max_num_queries(20):
        assert viewer_client.get("/dnsbl/").status_code == 200


def test_the_ip_page_shows_the_timeline_state_and_history(viewer_client, zones, dns_server):
    ip = SendingIPFactory(address="2001:db8::25")
    from apps.dnsbl.checker import ipv6_nibbles

    dns_server.records[f"{ipv6_nibbles('2001:db8::25')}.zen.test"] = listed("127.0.0.2")
    _round(ip)
    html = viewer_client.get("/dnsbl/ips/2001:db8::25/").content.decode()
    assert 'id="fig-dnsbl-timeline"' in html and 'id="state-table"' in html and 'id="history-table"' in html
    assert "SBL" in html


def test_an_ip_never_checked_has_honest_empty_states(viewer_client):
    SendingIPFactory(address="198.51.100.9")
    html = viewer_client.get("/dnsbl/ips/198.51.100.9/").content.decode()
    assert "Never listed on any checked zone." in html and "Not checked yet." in html


def test_an_unknown_ip_page_is_404(viewer_client):
    assert viewer_client.get("/dnsbl/ips/192.0.2.200/").status_code == 404
    assert viewer_client.get("/dnsbl/ips/not-an-ip/").status_code == 404


def test_the_zone_page_shows_canary_health(viewer_client, zones, dns_server):
    _round(SendingIPFactory())
    html = viewer_client.get("/dnsbl/zones/").content.decode()
    assert "broken.test" in html and "Failing its canary" in html and "must be listed" in html
    assert "zen.spamhaus.org" in html  # seeded (disabled here) zones are listed too


def test_a_viewer_may_not_start_a_check(viewer_client):
    SendingIPFactory(address="198.51.100.7")
    assert viewer_client.post("/dnsbl/check", {"ip": "198.51.100.7"}).status_code == 403


def test_check_now_queues_the_run_audits_it_and_shows_progress(operator_client):
    SendingIPFactory(address="198.51.100.7")
    response = operator_client.post("/dnsbl/check", {"ip": "198.51.100.7"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="dnsbl-run"' in html and "Checking 1 IP" in html
    entry = AuditLog.objects.get(action="dnsbl.check_now")
    assert entry.actor_label == "operator" and entry.after["ips"] == ["198.51.100.7"]
    assert get_redis().hgetall(f"dnsbl:run:{entry.object_id}") == {b"total": b"1", b"done": b"0"}


def test_check_now_with_a_bad_address_is_a_400_naming_it(operator_client):
    response = operator_client.post("/dnsbl/check", {"ip": ["198.51.100.77", "<b>x</b>"]})
    assert response.status_code == 400
    body = response.content.decode()
    assert "ip: not a sending IP" in body and "198.51.100.77" in body and "&lt;b&gt;" in body


def test_check_now_takes_a_selection_of_ips_in_one_field(operator_client):
    SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="2001:db8::25")
    response = operator_client.post("/dnsbl/check", {"ip": "198.51.100.7, 2001:db8::25"})
    assert response.status_code == 200 and "Checking 2 IPs" in response.content.decode()
