"""The DNSBL checker: a Django-free async hot path (c-ares through aiodns).

One call, :func:`check_round`, first asks every zone its RFC 5782 canaries, then asks
the trusted (healthy) zones about every target, with bounded concurrency, a per-query
timeout and each zone's rate limit, and fetches the TXT reason of each listing.

Every answer falls in one of three outcomes, decided in :func:`classify` only:

* listed — an A record in 127.0.0.0/8 that is not an error code;
* clean — NXDOMAIN (or a name without an A record);
* error — timeout, SERVFAIL/REFUSED, Spamhaus' 127.255.255.0/24 error codes
  (.252 typo, .254 public resolver, .255 rate limited), 127.0.1.255 on a domain list
  (an IP asked of the DBL), or an answer outside 127.0.0.0/8 (a resolver rewriting
  NXDOMAIN). An error is never a listing.

Why aiodns rather than dnspython's asyncio resolver: on this machine dnspython managed
~2,200 queries/s (a socket per query, all in Python) against ~5,500 for c-ares, and the
20,000-query round of ``bench/dnsbl.py`` must fit in 5 s (see docs/dnsbl.md).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import aiodns
import pycares

from apps.core.dns import ResolverSettings, dns_error, ipv6_nibbles, reverse_ipv4

LISTED, CLEAN, ERROR = "listed", "clean", "error"
SPAMHAUS_ERRORS = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query through a public/open resolver (Spamhaus refuses them: use your own resolver)",
    "127.255.255.255": "excessive number of queries (rate limited)",
}
DBL_IP_QUERY = "127.0.1.255"


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    id: int
    name: str
    query_zone: str  # the DQS key's zone, or the public name
    kind: str  # "ip" or "domain"
    canary_listed: str
    canary_clean: str
    max_qps: int | None = None


@dataclass(slots=True)
class Result:
    target: str
    zone_id: int
    outcome: str
    code: str = ""
    codes: tuple[str, ...] = ()
    reason: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    zone_id: int
    healthy: bool
    detail: str
    error: str = ""  # the canary got an error (timeout, error code), not a wrong answer


@dataclass
class Report:
    health: dict[int, Health] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    queries: int = 0
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)


class ZoneLimiter(Protocol):
    async def acquire(self, zone: ZoneSpec) -> None: ...


def query_name(target: str, zone: ZoneSpec) -> str:
    """The name to look up for ``target`` on ``zone``; ValueError names what is wrong."""
    return f"{_target_label(target, zone.kind)}.{zone.query_zone}"


@functools.lru_cache(maxsize=65536)
def _target_label(target: str, kind: str) -> str:
    """Reversed address or cleaned domain, once per target (a round asks ~20 zones about each)."""
    if kind == "domain":
        name = target.strip().rstrip(".").lower()
        if not name or ".." in name or len(name) > 253:
            raise ValueError(f"not a domain name: {target!r}")
        return name
    version = ipaddress.ip_address(target).version
    return reverse_ipv4(target) if version == 4 else ipv6_nibbles(target)


def classify(codes: Sequence[str], kind: str) -> tuple[str, str, str]:
    """(outcome, code, error) for the A records of one answer; no records means clean.

    c-ares hands back dotted quads, so plain string tests suffice (this runs per answer)."""
    if not codes:
        return CLEAN, "", ""
    for code in codes:
        if code.startswith("127.255.255."):
            return ERROR, code, f"{code}: {SPAMHAUS_ERRORS.get(code, 'zone error code')}"
        if kind == "domain" and code == DBL_IP_QUERY:
            return ERROR, code, f"{code}: an IP address was asked of a domain list"
        if not code.startswith("127.") or code.count(".") != 3:
            return ERROR, code, f"{code}: answer outside 127.0.0.0/8 (resolver rewriting NXDOMAIN?)"
    return LISTED, min(codes, key=lambda c: tuple(int(p) for p in c.split("."))), ""


class Checker:
    """One round's resolver: a fresh c-ares channel (so nothing is cached between rounds).

    ``resolvers`` are c-ares server strings ("10.0.0.53", "127.0.0.1:5353", "[::1]:53");
    empty means the system's (/etc/resolv.conf)."""

    def __init__(self, *, resolvers: Sequence[str], timeout: float, concurrency: int,
                 tries: int = 2, limiter: ZoneLimiter | None = None):
        self.resolver = ResolverSettings(tuple(resolvers), timeout, tries).resolver()
        self.semaphore = asyncio.Semaphore(concurrency)
        self.limiter = limiter
        self.queries = 0

    async def _ask(self, name: str, qtype: str, zone: ZoneSpec) -> tuple[list[str], str]:
        """(records, error) for one question; NXDOMAIN and NODATA give ([], "")."""
        if self.limiter is not None and zone.max_qps:
            await self.limiter.acquire(zone)
        self.queries += 1
        try:
            answer = await self.resolver.query_dns(name, qtype)
        except aiodns.error.DNSError as exc:
            return [], dns_error(exc)
        if qtype == "A":
            return [r.data.addr for r in answer.answer if r.type == pycares.QUERY_TYPE_A], ""
        return [_text(r.data) for r in answer.answer if r.type == pycares.QUERY_TYPE_TXT], ""

    async def check(self, target: str, zone: ZoneSpec) -> Result:
        try:
            name = query_name(target, zone)
        except ValueError as exc:
            return Result(target, zone.id, ERROR, error=str(exc))
        async with self.semaphore:
            codes, error = await self._ask(name, "A", zone)
            if error:
                return Result(target, zone.id, ERROR, error=error)
            outcome, code, error = classify(codes, zone.kind)
            result = Result(target, zone.id, outcome, code=code, codes=tuple(sorted(codes)), error=error)
            if outcome == LISTED:
                texts, _ = await self._ask(name, "TXT", zone)  # a missing reason is not an error
                result.reason = " ".join(texts)[:1000]
        return result

    async def canary(self, zone: ZoneSpec) -> Health:
        """RFC 5782: the listed test entry must be listed, the clean one must not."""
        listed_probe, clean_probe = zone.canary_listed, zone.canary_clean
        must, must_not = await asyncio.gather(self.check(listed_probe, zone), self.check(clean_probe, zone))
        if must.outcome != LISTED:
            why = must.error or "not listed"
            return Health(zone.id, False, f"test entry {listed_probe} must be listed: {why}", must.error)
        if must_not.outcome != CLEAN:
            why = must_not.error or f"listed with {must_not.code}"
            return Health(zone.id, False, f"{clean_probe} must not be listed: {why}", must_not.error)
        return Health(zone.id, True, "canaries answered as RFC 5782 requires")


def _text(data) -> str:
    text = getattr(data, "text", None) or getattr(data, "data", b"")
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


async def check_round(
    *, ips: Sequence[str], domains: Sequence[str], zones: Sequence[ZoneSpec], resolvers: Sequence[str],
    timeout: float, concurrency: int, tries: int = 2, limiter: ZoneLimiter | None = None,
) -> Report:
    """Canaries for every zone, then every target on every healthy zone of its kind."""
    started = time.perf_counter()
    checker = Checker(resolvers=resolvers, timeout=timeout, concurrency=concurrency, tries=tries, limiter=limiter)
    health = await asyncio.gather(*(checker.canary(zone) for zone in zones))
    report = Report(health={h.zone_id: h for h in health})
    trusted = [zone for zone in zones if report.health[zone.id].healthy]
    jobs = [
        checker.check(target, zone)
        for zone in trusted
        for target in (domains if zone.kind == "domain" else ips)
    ]
    report.results = list(await asyncio.gather(*jobs))
    report.queries = checker.queries
    report.seconds = time.perf_counter() - started
    return report
