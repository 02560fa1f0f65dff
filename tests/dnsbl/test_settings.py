"""MAILMON_DNS_RESOLVERS: host[:port] items, IPv6 bracketed, refused loudly when malformed."""

from __future__ import annotations

import pytest

from mailmon.env import ConfigError, envhostports


def test_resolvers_parse_to_c_ares_server_strings(monkeypatch):
    monkeypatch.setenv("MAILMON_DNS_RESOLVERS", "10.0.0.53, 127.0.0.1:5353,[::1]:53,2001:db8::53")
    assert envhostports("MAILMON_DNS_RESOLVERS") == ["10.0.0.53", "127.0.0.1:5353", "[::1]:53", "2001:db8::53"]


def test_no_resolvers_means_the_systems(monkeypatch):
    monkeypatch.delenv("MAILMON_DNS_RESOLVERS", raising=False)
    assert envhostports("MAILMON_DNS_RESOLVERS") == []


@pytest.mark.parametrize("value", ["dns.example.net", "10.0.0.1:0", "10.0.0.1:99999", "[::1]:x"])
def test_a_malformed_resolver_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MAILMON_DNS_RESOLVERS", value)
    with pytest.raises(ConfigError, match="MAILMON_DNS_RESOLVERS"):
        envhostports("MAILMON_DNS_RESOLVERS")
