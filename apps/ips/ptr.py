"""Reverse DNS of sending IPs, forward-confirmed: a Django-free async hot path (c-ares through aiodns).

For each address, :func:`check_ptrs` asks the PTR records of its reverse name
(``in-addr.arpa``, or 32 nibbles under ``ip6.arpa``), then the A (IPv4) or AAAA (IPv6)
records of each PTR name. Receivers such as Gmail and Microsoft want the name to resolve
back to the address (FCrDNS), so every answer falls in one outcome, decided here only:

* ok — a PTR name resolves back to the address (that name is reported first);
* mismatch — PTR names exist but none resolves back (another address, or none);
* missing — NXDOMAIN or no PTR record;
* error — the PTR question, or the forward question that could have confirmed it, got no
  answer (timeout, SERVFAIL, REFUSED): nothing is known, so the caller keeps the last name.

The resolver configuration is the DNSBL checker's (``apps.core.dns``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiodns
import pycares

from apps.core.dns import ResolverSettings, dns_error, reverse_pointer

OK, MISMATCH, MISSING, ERROR = "ok", "mismatch", "missing", "error"
MAX_NAMES = 5  # PTR names forward-checked per address (a sane zone has one)
_TYPES = {"PTR": pycares.QUERY_TYPE_PTR, "A": pycares.QUERY_TYPE_A, "AAAA": pycares.QUERY_TYPE_AAAA}


@dataclass(slots=True)
class PtrResult:
    address: str
    status: str
    names: tuple[str, ...] = ()  # the PTR names; the confirmed one first
    forward: tuple[str, ...] = ()  # what the names resolve to (the address's family)
    error: str = ""

    @property
    def name(self) -> str:
        return self.names[0] if self.names else ""

    @property
    def detail(self) -> str:
        """Why the PTR is not confirmed, in words ("" when it is)."""
        if self.status == MISMATCH:
            where = ", ".join(self.forward[:4]) or "nothing"
            return f"{', '.join(self.names)} resolves to {where}, not {self.address}"
        if self.status == MISSING:
            return "no PTR record"
        return self.error


@dataclass
class PtrReport:
    results: list[PtrResult] = field(default_factory=list)
    queries: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


class PtrChecker:
    """One round's resolver: a fresh c-ares channel and a bound on the addresses in flight."""

    def __init__(self, *, dns: ResolverSettings, concurrency: int):
        self.resolver = dns.resolver()
        self.semaphore = asyncio.Semaphore(concurrency)
        self.queries = 0

    async def _ask(self, name: str, qtype: str) -> tuple[list[str], str]:
        """(records, error); a name or record type that does not exist gives ([], "")."""
        self.queries += 1
        try:
            answer = await self.resolver.query_dns(name, qtype)
        except aiodns.error.DNSError as exc:
            return [], dns_error(exc)
        wanted = _TYPES[qtype]
        if qtype == "PTR":
            return [r.data.dname.rstrip(".").lower() for r in answer.answer if r.type == wanted], ""
        return [r.data.addr for r in answer.answer if r.type == wanted], ""

    async def check(self, address: str) -> PtrResult:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return PtrResult(address, ERROR, error=f"not an IP address: {address!r}")
        async with self.semaphore:
            names, error = await self._ask(reverse_pointer(address), "PTR")
            if error:
                return PtrResult(address, ERROR, error=f"PTR lookup: {error}")
            if not names:
                return PtrResult(address, MISSING)
            names = list(dict.fromkeys(names))[:MAX_NAMES]
            qtype = "A" if ip.version == 4 else "AAAA"
            answers = await asyncio.gather(*(self._ask(name, qtype) for name in names))
        return _judge(address, ip, names, answers)


def _judge(address: str, ip, names: list[str], answers: list[tuple[list[str], str]]) -> PtrResult:
    confirmed = [n for n, (found, _e) in zip(names, answers, strict=True) if any(_same(ip, a) for a in found)]
    forward = tuple(dict.fromkeys(a for found, _e in answers for a in found))
    if confirmed:
        ordered = (*confirmed, *(n for n in names if n not in confirmed))
        return PtrResult(address, OK, names=ordered, forward=forward)
    failed = [(n, e) for n, (_f, e) in zip(names, answers, strict=True) if e]
    if failed:  # the name that did not answer might have confirmed it
        name, error = failed[0]
        return PtrResult(address, ERROR, names=tuple(names), forward=forward,
                         error=f"forward lookup of {name}: {error}")  # fmt: skip
    return PtrResult(address, MISMATCH, names=tuple(names), forward=forward)


def _same(ip, text: str) -> bool:
    try:
        return ipaddress.ip_address(text) == ip  # IPv6 has many spellings of one address
    except ValueError:
        return False


async def check_ptrs(*, addresses: Sequence[str], dns: ResolverSettings, concurrency: int) -> PtrReport:
    """Every address checked concurrently (at most ``concurrency`` in flight)."""
    started = time.perf_counter()
    checker = PtrChecker(dns=dns, concurrency=concurrency)
    results = list(await asyncio.gather(*(checker.check(a) for a in addresses)))
    return PtrReport(results=results, queries=checker.queries, seconds=time.perf_counter() - started)
