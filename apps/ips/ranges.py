"""CIDR notation → the sending addresses it holds, with the portal's limits (pure, no database).

IPv4 /8–/32: network and broadcast addresses are left out up to /30; a /31 holds two usable
addresses and a /32 one (RFC 3021). IPv6 /64–/128, every address. At most
:data:`MAX_ADDRESSES` per request, so a /8 or a /64 is refused rather than expanded.
Every error names the ``cidr`` field and says what would be accepted.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_ADDRESSES = 1000
PREFIXES = {4: (8, 32), 6: (64, 128)}
EXAMPLES = "198.51.100.0/24 or 2001:db8::/120"


class RangeError(ValueError):
    """Bad or too large CIDR notation; the message starts with ``cidr:``."""


@dataclass(frozen=True)
class Range:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    addresses: list[str]

    @property
    def version(self) -> int:
        return self.network.version


def usable_count(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    if network.version == 4 and network.prefixlen <= 30:
        return network.num_addresses - 2
    return network.num_addresses


def parse_range(text: str) -> Range:
    """The usable addresses of ``text`` (``198.51.100.0/24``, ``2001:db8::/120`` or one address)."""
    value = (text or "").strip()
    if not value:
        raise RangeError(f"cidr: required, e.g. {EXAMPLES}.")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise RangeError(f"cidr: {value[:60]!r} is not CIDR notation (e.g. {EXAMPLES}).") from None
    if "/" in value and network.network_address != ipaddress.ip_interface(value).ip:
        raise RangeError(f"cidr: {value!r} has host bits set; did you mean {network}?")
    low, high = PREFIXES[network.version]
    if not low <= network.prefixlen <= high:
        accepted = f"IPv{network.version} ranges from /{low} to /{high} are accepted"
        raise RangeError(f"cidr: {accepted}, got /{network.prefixlen}.")
    count = usable_count(network)
    if count > MAX_ADDRESSES:
        raise RangeError(
            f"cidr: {network} holds {count:,} addresses; at most {MAX_ADDRESSES:,} per request — split it "
            "into smaller ranges."
        )
    hosts = network.hosts() if network.version == 4 and network.prefixlen <= 30 else iter(network)
    return Range(network=network, addresses=[str(a) for a in hosts])
