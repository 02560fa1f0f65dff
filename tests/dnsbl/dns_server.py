"""A real DNS server on loopback for the DNSBL and PTR tests and benchmarks (dnslib wire format, asyncio UDP).

It answers from a table of names: A records (listing codes, or a host's IPv4 addresses),
AAAA records, PTR names, a TXT reason, an rcode (SERVFAIL, REFUSED) or a delay (answers
past the checker's timeout). Every other name is NXDOMAIN; a name asked for a record
type it does not have answers NOERROR with no records (NODATA). Tests change the table
while the server runs; ``queries`` records what was asked, so a test can see what the checker really sent.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from dnslib import AAAA, PTR, QTYPE, RCODE, RR, TXT, A, DNSRecord


@dataclass(frozen=True)
class Answer:
    a: tuple[str, ...] = ()
    txt: str | None = None
    aaaa: tuple[str, ...] = ()
    ptr: tuple[str, ...] = ()
    rcode: int = RCODE.NOERROR
    delay: float = 0.0


def listed(*codes: str, txt: str | None = None, delay: float = 0.0) -> Answer:
    return Answer(a=codes, txt=txt, delay=delay)


SERVFAIL = Answer(rcode=RCODE.SERVFAIL)


def host(*addresses: str, delay: float = 0.0) -> Answer:
    """A host name's forward records: A for IPv4 addresses, AAAA for IPv6 ones."""
    return Answer(a=tuple(a for a in addresses if ":" not in a), aaaa=tuple(a for a in addresses if ":" in a),
                  delay=delay)


def pointer(*names: str, delay: float = 0.0) -> Answer:
    """A reverse name's PTR records."""
    return Answer(ptr=names, delay=delay)


def canaries(zone: str, *, healthy: bool = True) -> dict[str, Answer]:
    """RFC 5782 test entries: 127.0.0.2 listed, 127.0.0.1 not (or a zone that gets them wrong)."""
    if healthy:
        return {f"2.0.0.127.{zone}": listed("127.0.0.2", txt="RFC 5782 test entry")}
    return {f"1.0.0.127.{zone}": listed("127.0.0.2")}  # lists the address it must not, misses the one it must


@dataclass
class _Protocol(asyncio.DatagramProtocol):
    server: DnsServer
    transport: asyncio.DatagramTransport | None = field(default=None)

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        cache = self.server.cache
        if cache is not None and data[2:] in cache:  # same question again: only the id differs
            self.transport.sendto(data[:2] + cache[data[2:]], addr)
            return
        try:
            request = DNSRecord.parse(data)
        except Exception:  # garbage on the port: a real server drops it too
            return
        name = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        self.server.queries.append((name, QTYPE[qtype]))
        answer = self.server.records.get(name)
        reply = request.reply()
        if answer is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif answer.rcode != RCODE.NOERROR:
            reply.header.rcode = answer.rcode
        elif qtype == QTYPE.A:
            for code in answer.a:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(code), ttl=60))
        elif qtype == QTYPE.TXT and answer.txt:
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(answer.txt), ttl=60))
        elif qtype == QTYPE.AAAA:
            for address in answer.aaaa:
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=60))
        elif qtype == QTYPE.PTR:
            for target in answer.ptr:
                reply.add_answer(RR(request.q.qname, QTYPE.PTR, rdata=PTR(target), ttl=60))
        packed = reply.pack()
        delay = answer.delay if answer is not None else 0.0
        if cache is not None and not delay:
            cache[data[2:]] = packed[2:]
        if delay:
            asyncio.get_running_loop().call_later(delay, self.transport.sendto, packed, addr)
        else:
            self.transport.sendto(packed, addr)


class DnsServer:
    """``with DnsServer(records) as server: server.port`` — a UDP DNS server in a background thread."""

    def __init__(self, records: dict[str, Answer] | None = None, host: str = "127.0.0.1", port: int = 0,
                 cache: bool = False):
        self.records: dict[str, Answer] = dict(records or {})
        # Answers by question bytes, like a resolver's warm cache: only for a fixed table (the benchmark).
        self.cache: dict[bytes, bytes] | None = {} if cache else None
        self.queries: list[tuple[str, str]] = []
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="dns-server", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> DnsServer:
        async def bind():
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=(self.host, self.port)
            )
            return transport

        self._thread.start()
        self._transport = asyncio.run_coroutine_threadsafe(bind(), self._loop).result(timeout=5)
        self.port = self._transport.get_extra_info("sockname")[1]
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._transport.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_forever(records: dict[str, Answer], port: int, ready) -> None:
    """Entry point for a server in its own process (the benchmark): ``ready`` is set once bound."""
    server = DnsServer(records, port=port, cache=True).start()
    server.queries = _Discard()
    ready.set()
    server._thread.join()


class _Discard(list):
    def append(self, item) -> None:  # the benchmark does not keep 20,000 query names
        pass
