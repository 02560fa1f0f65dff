"""Sending-IP fixtures: the DNSBL tests' DNS server on loopback serves the PTR checks too."""

from tests.dnsbl.conftest import dns_server  # noqa: F401 - fixture
