"""DNS pieces every checker shares: reverse names, c-ares errors in words, the resolver from settings.

The DNSBL checker (``apps/dnsbl/checker.py``) and the PTR checker (``apps/ips/ptr.py``) both
ask through aiodns (c-ares): one resolver configuration (``MAILMON_DNS_RESOLVERS``,
``MAILMON_DNS_TIMEOUT``, ``MAILMON_DNS_TRIES``), one way of naming addresses in the reverse
trees and one reading of c-ares' error codes. Everything here but :func:`resolver_settings`
is Django-free, so the checkers stay Django-free hot paths.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiodns

T = TypeVar("T")

# c-ares' error codes in words; "not found" (NXDOMAIN, no record of that type) is an answer, not an error.
DNS_ERRORS = {
    aiodns.error.ARES_ETIMEOUT: "timeout",
    aiodns.error.ARES_ESERVFAIL: "SERVFAIL",
    aiodns.error.ARES_EREFUSED: "REFUSED",
    aiodns.error.ARES_ECONNREFUSED: "connection refused",
    aiodns.error.ARES_EBADRESP: "malformed answer",
    aiodns.error.ARES_EFORMERR: "FORMERR",
    aiodns.error.ARES_ENOTIMP: "NOTIMP",
}
NOT_FOUND = frozenset({aiodns.error.ARES_ENOTFOUND, aiodns.error.ARES_ENODATA})


def dns_error(exc: aiodns.error.DNSError) -> str:
    """The error of a failed question in words; "" when the name (or record type) does not exist."""
    code = exc.args[0] if exc.args else None
    if code in NOT_FOUND:
        return ""
    return DNS_ERRORS.get(code, str(exc.args[-1] if exc.args else exc))


def reverse_ipv4(address: str) -> str:
    return ".".join(reversed(str(ipaddress.IPv4Address(address)).split(".")))


def ipv6_nibbles(address: str) -> str:
    """2001:db8::1 → "1.0.0.0…8.b.d.0.1.0.0.2": 32 reversed nibbles (RFC 5782 §2.4), never 16-bit groups."""
    return ".".join(reversed(ipaddress.IPv6Address(address).exploded.replace(":", "")))


def reverse_pointer(address: str) -> str:
    """The PTR name of an address: ``…in-addr.arpa`` (RFC 1035) or 32 nibbles under ``ip6.arpa`` (RFC 3596)."""
    version = ipaddress.ip_address(address).version
    return f"{reverse_ipv4(address)}.in-addr.arpa" if version == 4 else f"{ipv6_nibbles(address)}.ip6.arpa"


@dataclass(frozen=True)
class ResolverSettings:
    """Where and how patiently to ask: c-ares server strings ("10.0.0.53", "127.0.0.1:5353",
    "[::1]:53"; empty: the system's /etc/resolv.conf), seconds per try, tries per question."""

    resolvers: tuple[str, ...] = ()
    timeout: float = 3.0
    tries: int = 2

    def resolver(self) -> aiodns.DNSResolver:
        """A fresh c-ares channel (nothing cached between rounds); call inside the running loop."""
        return aiodns.DNSResolver(nameservers=list(self.resolvers) or None, timeout=self.timeout, tries=self.tries)


def resolver_settings() -> ResolverSettings:
    """The one resolver configuration of the portal (``MAILMON_DNS_*``, docs/dnsbl.md)."""
    from django.conf import settings

    return ResolverSettings(
        resolvers=tuple(settings.MAILMON_DNS_RESOLVERS), timeout=settings.MAILMON_DNS_TIMEOUT,
        tries=settings.MAILMON_DNS_TRIES,
    )  # fmt: skip


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, or in a helper thread when this thread already runs a loop (ASGI, tests)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()

