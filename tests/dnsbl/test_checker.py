"""The checker against a real DNS server on loopback: names, codes, errors, canaries, timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest
from dnslib import RCODE

from apps.dnsbl.checker import CLEAN, ERROR, LISTED, ZoneSpec, check_round, classify, ipv6_nibbles, query_name

from .dns_server import SERVFAIL, Answer, DnsServer, canaries, listed

ZEN = ZoneSpec(id=1, name="zen.test", query_zone="zen.test", kind="ip", canary_listed="127.0.0.2",
               canary_clean="127.0.0.1")
DBL = ZoneSpec(id=2, name="dbl.test", query_zone="dbl.test", kind="domain", canary_listed="test",
               canary_clean="invalid")


def _round(server: DnsServer, *, ips=(), domains=(), zones=(ZEN,), timeout=0.3):
    return asyncio.run(check_round(ips=list(ips), domains=list(domains), zones=list(zones),
                                   resolvers=[server.address], timeout=timeout, concurrency=50, tries=1))


@pytest.fixture
def server():
    with DnsServer({**canaries("zen.test"), "test.dbl.test": listed("127.0.1.2")}) as running:
        yield running


def test_ipv4_is_asked_with_reversed_octets():
    assert query_name("198.51.100.7", ZEN) == "7.100.51.198.zen.test"


def test_ipv6_is_asked_in_nibble_format_not_16_bit_groups():
    assert ipv6_nibbles("2001:db8::1") == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
    assert query_name("2001:db8:1:2::abcd", ZEN).startswith("d.c.b.a.0.0.0.0")


def test_a_domain_is_asked_as_it_is_on_a_domain_list():
    assert query_name("Example.COM.", DBL) == "example.com.dbl.test"


def test_a_dqs_key_sends_queries_to_the_keys_zone():
    dqs = ZoneSpec(id=3, name="zen.spamhaus.org", query_zone="abc123.zen.dq.spamhaus.net", kind="ip",
                   canary_listed="127.0.0.2", canary_clean="127.0.0.1")
    assert query_name("192.0.2.1", dqs) == "1.2.0.192.abc123.zen.dq.spamhaus.net"


@pytest.mark.parametrize(
    ("codes", "kind", "outcome"),
    [
        ([], "ip", CLEAN),
        (["127.0.0.2"], "ip", LISTED),
        (["127.0.0.4", "127.0.0.10"], "ip", LISTED),
        (["127.255.255.252"], "ip", ERROR),
        (["127.255.255.254"], "ip", ERROR),
        (["127.255.255.255"], "ip", ERROR),
        (["127.0.1.255"], "domain", ERROR),
        (["127.0.1.2"], "domain", LISTED),
        (["192.0.2.80"], "ip", ERROR),  # a resolver answering NXDOMAIN with its own page
    ],
)
def test_answers_are_classified_and_an_error_code_is_never_a_listing(codes, kind, outcome):
    assert classify(codes, kind)[0] == outcome


def test_a_listing_carries_its_lowest_code_and_txt_reason(server):
    server.records["7.100.51.198.zen.test"] = listed("127.0.0.10", "127.0.0.4", txt="https://example.test/why")
    report = _round(server, ips=["198.51.100.7", "198.51.100.8"])
    by_ip = {r.target: r for r in report.results}
    assert (by_ip["198.51.100.7"].outcome, by_ip["198.51.100.7"].code) == (LISTED, "127.0.0.4")
    assert by_ip["198.51.100.7"].reason == "https://example.test/why"
    assert by_ip["198.51.100.7"].codes == ("127.0.0.10", "127.0.0.4")
    assert by_ip["198.51.100.8"].outcome == CLEAN
    assert ("7.100.51.198.zen.test", "TXT") in server.queries
    assert ("8.100.51.198.zen.test", "TXT") not in server.queries  # no reason asked for a clean answer


def test_an_ipv6_listing_is_found_through_its_nibble_name(server):
    server.records[f"{ipv6_nibbles('2001:db8::25')}.zen.test"] = listed("127.0.0.2")
    report = _round(server, ips=["2001:db8::25", "2001:db8::26"])
    assert [r.outcome for r in report.results] == [LISTED, CLEAN]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (SERVFAIL, "SERVFAIL"),
        (Answer(rcode=RCODE.REFUSED), "REFUSED"),
        (listed("127.255.255.254"), "public/open resolver"),
        (listed("127.255.255.255"), "rate limited"),
        (listed("127.255.255.252"), "typing error"),
    ],
)
def test_server_failures_and_error_codes_are_errors_not_listings(server, answer, error):
    server.records["9.100.51.198.zen.test"] = answer
    (result,) = _round(server, ips=["198.51.100.9"]).results
    assert result.outcome == ERROR and error in result.error


def test_127_0_1_255_on_a_domain_list_is_an_error(server):
    server.records["example.com.dbl.test"] = listed("127.0.1.255")
    server.records["spammy.example.dbl.test"] = listed("127.0.1.2")
    report = _round(server, domains=["example.com", "spammy.example"], zones=[DBL])
    assert [(r.outcome, r.code) for r in report.results] == [(ERROR, "127.0.1.255"), (LISTED, "127.0.1.2")]


def test_an_answer_slower_than_the_timeout_is_an_error(server):
    server.records["10.100.51.198.zen.test"] = listed("127.0.0.2", delay=1.5)
    started = time.monotonic()
    (result,) = _round(server, ips=["198.51.100.10"], timeout=0.3).results
    assert (result.outcome, result.error) == (ERROR, "timeout")
    assert time.monotonic() - started < 1.4


def test_a_zone_failing_its_canary_is_unhealthy_and_not_asked_about_targets(server):
    broken = ZoneSpec(id=9, name="broken.test", query_zone="broken.test", kind="ip", canary_listed="127.0.0.2",
                      canary_clean="127.0.0.1")
    server.records.update(canaries("broken.test", healthy=False))
    server.records["11.100.51.198.broken.test"] = listed("127.0.0.2")
    report = _round(server, ips=["198.51.100.11"], zones=[ZEN, broken])
    assert report.health[1].healthy and not report.health[9].healthy
    assert "must be listed" in report.health[9].detail
    assert [r.zone_id for r in report.results] == [1]
    assert not any(name.startswith("11.100.51.198.broken") for name, _ in server.queries)


def test_a_zone_listing_its_clean_canary_is_unhealthy(server):
    server.records["1.0.0.127.zen.test"] = listed("127.0.0.2")  # a zone listing the whole world
    report = _round(server, ips=["198.51.100.12"])
    assert not report.health[1].healthy and "must not be listed" in report.health[1].detail
    assert report.results == []


def test_a_domain_zone_uses_the_rfc_5782_test_and_invalid_names(server):
    report = _round(server, domains=["example.org"], zones=[DBL])
    assert report.health[2].healthy
    assert ("test.dbl.test", "A") in server.queries and ("invalid.dbl.test", "A") in server.queries
