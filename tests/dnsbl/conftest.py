"""DNSBL fixtures: a real DNS server on loopback and a small set of test zones pointed at it."""

from __future__ import annotations

import pytest

from apps.dnsbl.models import DnsblZone

from .dns_server import DnsServer, canaries

ZEN_CODES = {"127.0.0.2": "SBL", "127.0.0.4": "XBL", "127.0.0.10": "PBL"}


@pytest.fixture
def dns_server(settings):
    """The server every check in the test talks to (MAILMON_DNS_RESOLVERS = its host:port)."""
    with DnsServer() as server:
        settings.MAILMON_DNS_RESOLVERS = [server.address]
        settings.MAILMON_DNS_TIMEOUT = 0.3
        settings.MAILMON_DNS_TRIES = 1
        settings.MAILMON_DNSBL_ZONE_QPS = 0
        yield server


@pytest.fixture
def zones(db, dns_server) -> dict[str, DnsblZone]:
    """Seeded zones switched off; four test zones with healthy canaries (broken.test fails its own)."""
    DnsblZone.objects.update(enabled=False)
    made = {
        "zen": DnsblZone.objects.create(name="zen.test", kind="ip", weight=40, may_pause=True, codes=ZEN_CODES),
        "info": DnsblZone.objects.create(name="info.test", kind="ip", weight=5, may_pause=False,
                                         codes={"127.0.0.2": "informational"}),
        "dbl": DnsblZone.objects.create(name="dbl.test", kind="domain", weight=30, may_pause=False,
                                        codes={"127.0.1.2": "spam domain"}),
        "broken": DnsblZone.objects.create(name="broken.test", kind="ip", weight=10, may_pause=True),
    }
    for name in ("zen.test", "info.test"):
        dns_server.records.update(canaries(name))
    dns_server.records.update(canaries("broken.test", healthy=False))
    dns_server.records["test.dbl.test"] = dns_server.records["2.0.0.127.zen.test"]
    return made
