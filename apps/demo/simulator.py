"""Demo traffic: realistic delivery events and node metrics for a simulated fleet.

Pure generation logic, no I/O: ``manage.py simulate_traffic`` feeds the output to the
real HTTP API, and the tests assert its distributions.  Everything random flows from one
``random.Random`` seeded by the caller, and every time is passed in, so a seed and a
time window always produce the same traffic.

The model, in the order a message sees it:

* arrivals are a Poisson process whose rate follows a diurnal curve (peak ~15:00 UTC,
  trough ~03:00 UTC; ``rate`` is the daily mean in events/s);
* a sender account (with its sender domain and IP pool) and a recipient domain are
  drawn from weighted catalogues: Gmail, Microsoft consumer, Yahoo/AOL and Apple shares
  plus a Zipf-distributed long tail of corporate domains, each hosted on Google
  Workspace, Microsoft 365 or its own Postfix/Exim;
* the recipient's mail system decides the lifecycle: queued -> delivered, or queued ->
  bounced, or queued -> deferred (1-4 times, retried after 5/10/20/40 min) -> delivered
  or bounced, with that system's real SMTP codes and texts and a log-normal delay;
* incidents (a scheduled function of the seed and the hour) overlay it: a provider
  throttling one node for a few minutes (Gmail 421-4.7.28, Microsoft 451 4.7.650, Yahoo
  [TSS04]) or one sending IP listed on Spamhaus and bouncing (554 5.7.1 / S3150).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from .simulator_replies import (
    FEEDBACK_LOOPS,
    P_COMPLAINT,
    P_REJECT,
    REJECTIONS,
    SYSTEMS,
    MailSystem,
    Reply,
)

__all__ = [
    "Fleet",
    "FleetNode",
    "Incident",
    "NodeMetricsModel",
    "OutboundNode",
    "SendingAddress",
    "Traffic",
    "diurnal_factor",
    "domain_catalogue",
    "format_time",
    "incident_schedule",
    "poisson",
]

DAY: Final = 86_400.0
PEAK_HOUR_UTC: Final = 15.0
DIURNAL_AMPLITUDE: Final = 0.6  # peak 1.6x, trough 0.4x the daily mean
RETRY_MINUTES: Final = (5, 10, 20, 40)  # ZoneMTA-like deferral schedule
IPS_PER_ACCOUNT: Final = 16  # an account rotates over a slice of its pool, as ZoneMTA pools do
OUTBOUND_ROLES: Final = ("zonemta-outbound", "postfix")


# ----------------------------------------------------------------------------- fleet


@dataclass(frozen=True, slots=True)
class SendingAddress:
    address: str
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundNode:
    """An MTA that sends mail, with the IPs it sends from."""

    hostname: str
    role: str
    ips: tuple[SendingAddress, ...]


@dataclass(frozen=True, slots=True)
class FleetNode:
    hostname: str
    role: str


@dataclass(frozen=True, slots=True)
class Fleet:
    outbound: tuple[OutboundNode, ...]
    nodes: tuple[FleetNode, ...] = ()


# ------------------------------------------------------------------------ catalogues


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    domain: str
    locals: tuple[str, ...]
    pool: str  # preferred pool name; any IP when the fleet has none of it
    weight: float
    size_median: int  # bytes
    marketing: bool = False


ACCOUNTS: Final[tuple[Account, ...]] = (
    Account("brightcart-news", "news.brightcart.com", ("newsletter", "deals"), "marketing", 0.22, 70_000, True),
    Account("brightcart-orders", "brightcart.com", ("orders", "no-reply"), "transactional", 0.14, 28_000),
    Account("ledgerly-app", "notify.ledgerly.io", ("alerts", "no-reply"), "notifications", 0.16, 14_000),
    Account("ledgerly-billing", "ledgerly.io", ("billing", "invoices"), "transactional", 0.06, 45_000),
    Account("northpeak-crm", "mail.northpeak.org", ("team", "support"), "general", 0.10, 22_000),
    Account("fjordtravel-promo", "offers.fjordtravel.de", ("angebote", "news"), "marketing", 0.14, 95_000, True),
    Account("forum-digest", "community.tallgrass.net", ("digest", "notifications"), "notifications", 0.12, 18_000),
    Account("helpdesk", "support.tallgrass.net", ("help", "tickets"), "general", 0.06, 12_000),
)


@dataclass(frozen=True, slots=True)
class Provider:
    """A mailbox provider: how much of the mail goes there and which system answers."""

    name: str
    share: float
    domains: tuple[tuple[str, float], ...]  # (domain, weight within the provider)
    system: str  # key of SYSTEMS


PROVIDERS: Final[tuple[Provider, ...]] = (
    Provider("gmail", 0.38, (("gmail.com", 0.97), ("googlemail.com", 0.03)), "gmail"),
    Provider(
        "microsoft",
        0.17,
        (("outlook.com", 0.35), ("hotmail.com", 0.38), ("live.com", 0.14), ("msn.com", 0.05), ("hotmail.co.uk", 0.08)),
        "microsoft",
    ),
    Provider(
        "yahoo",
        0.10,
        (("yahoo.com", 0.62), ("aol.com", 0.20), ("ymail.com", 0.06), ("yahoo.co.uk", 0.07), ("rocketmail.com", 0.05)),
        "yahoo",
    ),
    Provider("apple", 0.06, (("icloud.com", 0.80), ("me.com", 0.14), ("mac.com", 0.06)), "icloud"),
)
CORPORATE_SHARE: Final = 1.0 - sum(p.share for p in PROVIDERS)  # the long tail: 29 %
CORPORATE_DOMAINS: Final = 400
ZIPF_EXPONENT: Final = 0.8  # the biggest corporate domain gets ~2 % of all mail, the tail ~0.02 % each
# Where a corporate domain's MX points, and so which texts it answers with.
CORPORATE_HOSTING: Final = (("google-workspace", 0.30), ("microsoft-365", 0.35), ("postfix", 0.25), ("exim", 0.10))

_CORP_WORDS_A: Final = (
    "acme", "blue", "north", "silver", "green", "river", "stone", "bright", "cedar", "iron", "summit", "harbor",
    "pioneer", "atlas", "vertex", "delta", "lumen", "maple", "oak", "polar", "quantum", "red", "solar", "terra",
)  # fmt: skip
_CORP_WORDS_B: Final = (
    "logistics", "labs", "systems", "partners", "foods", "health", "legal", "media", "bank", "energy", "motors",
    "retail", "software", "capital", "works", "design", "consulting", "analytics", "insurance", "clinic",
)  # fmt: skip
_CORP_TLDS: Final = (("com", 0.55), ("de", 0.12), ("co.uk", 0.08), ("io", 0.06), ("net", 0.06), ("fr", 0.05),
                     ("nl", 0.04), ("org", 0.04))  # fmt: skip

_FIRST: Final = ("anna", "ben", "carla", "david", "emma", "felix", "grace", "hugo", "iris", "jonas", "kate",
                 "liam", "mia", "noah", "olga", "paul", "rosa", "sam", "tina", "yusuf", "zoe", "marek", "lena",
                 "omar")  # fmt: skip
_LAST: Final = ("smith", "muller", "garcia", "rossi", "novak", "kim", "jensen", "silva", "dubois", "meyer",
                "brown", "kowalski", "nguyen", "larsen", "weber", "costa", "evans", "fischer")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    provider: str  # provider name, or "corporate"
    system: str  # which SYSTEMS entry answers for it
    mx: str


def domain_catalogue(seed: int) -> tuple[list[Domain], list[float]]:
    """All recipient domains and their cumulative weights (the provider shares sum to 1).

    Corporate domains follow a Zipf law (a few big customers, a long tail); their names
    and hosting are drawn from ``seed`` so a run always sees the same tail.
    """
    rng = random.Random(f"domains:{seed}")
    domains: list[Domain] = []
    weights: list[float] = []
    for provider in PROVIDERS:
        total = sum(w for _, w in provider.domains)
        for name, weight in provider.domains:
            domains.append(Domain(name, provider.name, provider.system, _provider_mx(provider.system, name)))
            weights.append(provider.share * weight / total)
    names = _corporate_names(rng)
    harmonic = sum(1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(names)))
    hosting, hosting_weights = zip(*CORPORATE_HOSTING, strict=True)
    for rank, name in enumerate(names):
        system = rng.choices(hosting, hosting_weights)[0]
        domains.append(Domain(name, "corporate", system, _corporate_mx(system, name)))
        weights.append(CORPORATE_SHARE / (rank + 1) ** ZIPF_EXPONENT / harmonic)
    return domains, list(itertools.accumulate(weights))


def _corporate_names(rng: random.Random) -> list[str]:
    tlds, tld_weights = zip(*_CORP_TLDS, strict=True)
    names: set[str] = set()
    ordered: list[str] = []
    while len(ordered) < CORPORATE_DOMAINS:
        a, b = rng.choice(_CORP_WORDS_A), rng.choice(_CORP_WORDS_B)
        name = f"{a}{rng.choice(('', '-'))}{b}.{rng.choices(tlds, tld_weights)[0]}"
        if name not in names:
            names.add(name)
            ordered.append(name)
    return ordered


def _provider_mx(system: str, domain: str) -> str:
    if system == "gmail":
        return "gmail-smtp-in.l.google.com"
    if system == "microsoft":
        return f"{domain.replace('.', '-')}.olc.protection.outlook.com"
    if system == "yahoo":
        return "mx-aol.mail.gm0.yahoodns.net" if domain == "aol.com" else "mta5.am0.yahoodns.net"
    return "mx01.mail.icloud.com"


def _corporate_mx(system: str, domain: str) -> str:
    if system == "google-workspace":
        return "aspmx.l.google.com"
    if system == "microsoft-365":
        return f"{domain.replace('.', '-')}.mail.protection.outlook.com"
    return f"mx1.{domain}"


# ---------------------------------------------------------------------- mail systems
# (their data lives in simulator_replies.py)

def _weighted(rng: random.Random, replies: Sequence[Reply]) -> Reply:
    return rng.choices(replies, [r.weight for r in replies])[0]


# ------------------------------------------------------------------------ time shape


def diurnal_factor(moment: float) -> float:
    """Traffic multiplier at a Unix time: mean 1 over a day, peak mid-afternoon UTC."""
    hour = (moment % DAY) / 3600.0
    return 1.0 + DIURNAL_AMPLITUDE * math.cos(2 * math.pi * (hour - PEAK_HOUR_UTC) / 24.0)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def format_time(moment: float) -> str:
    """RFC 3339 UTC with milliseconds, as the wire format shows: 2026-11-25T10:00:00.123Z."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------- incidents


@dataclass(frozen=True, slots=True)
class Incident:
    """A provider throttling one node, or one sending IP on a blocklist, for a while."""

    kind: str  # "throttle" or "blocklist"
    start: float
    end: float
    node: str | None = None  # throttle: the node whose IPs are throttled
    provider: str | None = None  # throttle: gmail, microsoft or yahoo
    ip: str | None = None  # blocklist: the listed address

    def active(self, moment: float) -> bool:
        return self.start <= moment < self.end

    def describe(self) -> str:
        span = f"{format_time(self.start)[11:16]}-{format_time(self.end)[11:16]} UTC"
        if self.kind == "throttle":
            return f"{self.provider} throttles {self.node} {span}"
        return f"{self.ip} blocklisted {span}"


P_THROTTLE_PER_HOUR: Final = 0.5
P_BLOCKLIST_PER_HOUR: Final = 0.2


def incident_schedule(*, seed: int, start: float, end: float, fleet: Fleet) -> list[Incident]:
    """Incidents overlapping [start, end); each hour's draw depends only on seed and hour,
    so consecutive windows agree on the same schedule."""
    # Providers throttle the busy pooled nodes, not a relay sending from its own address.
    nodes = [n for n in fleet.outbound if any(a.pool for a in n.ips)] or [n for n in fleet.outbound if n.ips]
    ips = busy_ips(fleet)
    if not nodes or not ips:
        return []
    incidents = []
    for hour in range(int(start // 3600) - 1, int(end // 3600) + 1):
        rng = random.Random(f"incidents:{seed}:{hour}")
        base = hour * 3600.0
        if rng.random() < P_THROTTLE_PER_HOUR:
            begin = base + rng.uniform(0, 3300)
            node = rng.choice(nodes)
            provider = rng.choices(("gmail", "microsoft", "yahoo"), (0.5, 0.3, 0.2))[0]
            incidents.append(Incident("throttle", begin, begin + rng.uniform(180, 600), node.hostname, provider))
        if rng.random() < P_BLOCKLIST_PER_HOUR:
            begin = base + rng.uniform(0, 3000)
            ip = rng.choice(ips)
            incidents.append(Incident("blocklist", begin, begin + rng.uniform(600, 2400), ip=ip))
    return [i for i in incidents if i.end > start and i.start < end]


# ---------------------------------------------------------------------------- traffic


@dataclass(slots=True)
class _Route:
    """Where an account's mail leaves from: (node, ip) pairs it rotates over."""

    choices: list[tuple[str, str | None]]


@dataclass(slots=True)
class Traffic:
    """The stateful event stream: call :meth:`advance` with increasing times.

    ``rate`` is the daily mean in events/s.  Lifecycle events that fall after the current
    time (retries, complaints) wait in a heap until a later ``advance`` reaches them.
    """

    fleet: Fleet
    seed: int
    rate: float
    start: float
    run_id: str = "sim"
    incidents: list[Incident] | None = None  # None: drawn from incident_schedule
    rng: random.Random = field(init=False)
    now: float = field(init=False)
    queue: Counter = field(init=False)  # messages queued and not yet delivered/bounced, by node
    _domains: list[Domain] = field(init=False)
    _cum_weights: list[float] = field(init=False)
    _routes: dict[str, _Route] = field(init=False)
    _pending: list = field(init=False)
    _seq: itertools.count = field(init=False)
    _events_per_message: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.fleet.outbound:
            raise ValueError("fleet has no outbound (ZoneMTA/Postfix) nodes")
        self.rng = random.Random(self.seed)
        self.now = self.start
        self.queue = Counter()
        self._domains, self._cum_weights = domain_catalogue(self.seed)
        self._routes = {a.name: _route_for(a, self.fleet) for a in ACCOUNTS}
        self._pending = []
        self._seq = itertools.count()
        self._events_per_message = expected_events_per_message()

    def set_rate(self, rate: float) -> None:
        self.rate = rate

    def message_rate(self, moment: float) -> float:
        """Messages per second at a moment (events/s divided by events per message)."""
        return self.rate * diurnal_factor(moment) / self._events_per_message

    def advance(self, until: float, *, step: float = 1.0) -> list[dict[str, Any]]:
        """All events with time in [now, until), in time order; moves now to until."""
        moment = self.now
        # Retries of messages sent now land up to ~2 h later: they must see those incidents too.
        incidents = self._incidents(moment, until + 7200)
        while moment < until:
            upto = min(until, moment + step)
            for _ in range(poisson(self.rng, self.message_rate(moment) * (upto - moment))):
                self._message(self.rng.uniform(moment, upto), incidents)
            moment = upto
        self.now = until
        out = []
        while self._pending and self._pending[0][0] < until:
            _time, _seq, node, delta, event = heapq.heappop(self._pending)
            self.queue[node] += delta
            out.append(event)
        return out

    def active_incidents(self, moment: float) -> list[Incident]:
        return [i for i in self._incidents(moment, moment + 1) if i.active(moment)]

    def _incidents(self, start: float, end: float) -> list[Incident]:
        if self.incidents is not None:
            return [i for i in self.incidents if i.end > start and i.start < end]
        return incident_schedule(seed=self.seed, start=start, end=end, fleet=self.fleet)

    # --- one message ------------------------------------------------------------------

    def _message(self, t0: float, incidents: list[Incident]) -> None:
        rng = self.rng
        account = rng.choices(ACCOUNTS, [a.weight for a in ACCOUNTS])[0]
        node, ip = rng.choice(self._routes[account.name].choices)
        domain = self._domains[bisect.bisect_left(self._cum_weights, rng.random() * self._cum_weights[-1])]
        seq = next(self._seq)
        sender = f"{rng.choice(account.locals)}@{account.domain}"
        base = {
            "node": node,
            "sending_ip": ip,
            "message_id": f"<{self.run_id}.{seq:x}@{account.domain}>",
            "from": sender,
            "to": _recipient(rng, domain.name),
            "size": _size(rng, account),
            "account": account.name,
        }
        ctx = {"ip": ip or "", "to": base["to"], "domain": domain.name, "sender_domain": account.domain,
               "message_id": base["message_id"].strip("<>"), "mx": domain.mx}  # fmt: skip
        steps = message_lifecycle(rng, t0=t0, domain=domain, account=account, node=node, ip=ip, incidents=incidents)
        for index, (moment, kind, reply, delay_ms, delta) in enumerate(steps):
            event = {"event_id": f"{self.run_id}-{seq:x}-{index}", "time": format_time(moment), "type": kind, **base}
            if kind not in ("queued", "complained"):
                event["mx"] = domain.mx
            if reply is not None:
                event.update(_render(rng, reply, ctx, moment))
            if delay_ms is not None:
                event["delay_ms"] = delay_ms
            heapq.heappush(self._pending, (moment, next(self._seq), node, delta, event))


Step = tuple[float, str, Reply | None, int | None, int]  # time, type, reply, delay_ms, queue delta


def message_lifecycle(
    rng: random.Random,
    *,
    t0: float,
    domain: Domain,
    account: Account,
    node: str,
    ip: str | None,
    incidents: Sequence[Incident] = (),
) -> list[Step]:
    """The steps of one message: (time, type, reply, delay_ms, queue delta) each.

    queued (+1 on the node's queue) -> deferred* -> delivered or bounced (-1); rejected at
    submission never enters the queue; complaints come minutes to hours after delivery.
    """
    if rng.random() < P_REJECT:
        return [(t0, "rejected", _weighted(rng, REJECTIONS), None, 0)]
    system = SYSTEMS[domain.system]
    steps: list[Step] = [(t0, "queued", None, None, 1)]
    attempt_delay = _delay_ms(rng, system)
    moment = t0 + attempt_delay / 1000
    listed = ip is not None and any(i.kind == "blocklist" and i.ip == ip and i.active(moment) for i in incidents)
    if listed and system.blocklist is not None and rng.random() < 0.9:
        return [*steps, (moment, "bounced", system.blocklist, attempt_delay, -1)]

    def throttled_at(when: float) -> bool:
        return any(
            i.kind == "throttle" and i.node == node and i.provider == domain.provider and i.active(when)
            for i in incidents
        )

    roll = rng.random()
    if system.throttle is not None and roll < 0.7 and throttled_at(moment):
        moment = _deferrals(rng, steps, t0=t0, moment=moment, reply=system.throttle, system=system,
                            throttled_at=throttled_at)  # fmt: skip
    elif roll < system.p_bounce:
        return [*steps, (moment, "bounced", _weighted(rng, system.bounces), attempt_delay, -1)]
    elif roll < system.p_bounce + system.p_defer:
        reply = _weighted(rng, system.deferrals)
        moment = _deferrals(rng, steps, t0=t0, moment=moment, reply=reply, system=system)
        if rng.random() < system.p_final_bounce:
            final = _final_bounce(rng, system, reply)
            return [*steps, (moment, "bounced", final, round((moment - t0) * 1000), -1)]
    steps.append((moment, "delivered", system.delivered, round((moment - t0) * 1000), -1))
    if account.marketing and domain.provider in FEEDBACK_LOOPS and rng.random() < P_COMPLAINT:
        steps.append((moment + rng.lognormvariate(math.log(2400), 1.0), "complained", None, None, 0))
    return steps


def _deferrals(
    rng: random.Random,
    steps: list[Step],
    *,
    t0: float,
    moment: float,
    reply: Reply,
    system: MailSystem,
    throttled_at: Callable[[float], bool] | None = None,
) -> float:
    """Append deferred attempts; returns the time of the next (final) attempt.

    A throttled message is deferred until the throttle is over; any other deferral lasts
    1-4 attempts, most often one (retries after 5, 10, 20, 40 minutes, ZoneMTA-like).
    """
    attempts = 1 + min(3, int(rng.expovariate(1.2)))
    for attempt, minutes in enumerate(RETRY_MINUTES, start=1):
        steps.append((moment, "deferred", reply, round((moment - t0) * 1000), 0))
        moment += minutes * 60 * rng.uniform(0.9, 1.3) + _delay_ms(rng, system) / 1000
        done = not throttled_at(moment) if throttled_at is not None else attempt >= attempts
        if done:
            break
    return moment


def _final_bounce(rng: random.Random, system: MailSystem, deferral: Reply) -> Reply:
    # A full mailbox that stays full ends as the permanent x.2.2; anything else expires.
    if deferral.enhanced == "4.2.2":
        for reply in system.bounces:
            if reply.enhanced == "5.2.2":
                return reply
    return _weighted(rng, system.bounces)


def expected_events_per_message() -> float:
    """Mean events per message under normal conditions (turns events/s into messages/s)."""
    total = 0.0
    weights = {p.system: p.share for p in PROVIDERS}
    for system, share in CORPORATE_HOSTING:
        weights[system] = weights.get(system, 0) + CORPORATE_SHARE * share
    for name, share in weights.items():
        system = SYSTEMS[name]
        # queued + final, plus on average ~1.5 deferrals for a deferred message
        total += share * (2 + system.p_defer * 1.5)
    return total * (1 - P_REJECT) + P_REJECT


def _route_for(account: Account, fleet: Fleet) -> _Route:
    pairs = [(n.hostname, a.address) for n in fleet.outbound for a in n.ips if a.pool == account.pool]
    if not pairs:
        pairs = [(n.hostname, a.address) for n in fleet.outbound for a in n.ips if a.pool is not None]
    rng = random.Random(f"route:{account.name}")
    chosen = rng.sample(pairs, min(IPS_PER_ACCOUNT, len(pairs)))
    # Relays without pooled IPs (a Postfix smarthost sending from its own address) carry
    # a share of every account's mail.
    chosen += [(n.hostname, a.address) for n in fleet.outbound for a in n.ips if a.pool is None]
    chosen += [(n.hostname, None) for n in fleet.outbound if not n.ips]
    return _Route(sorted(chosen, key=lambda pair: (pair[0], pair[1] or "")))


def busy_ips(fleet: Fleet) -> list[str]:
    """The sending IPs that carry the simulated accounts' mail."""
    return sorted({ip for a in ACCOUNTS for _node, ip in _route_for(a, fleet).choices if ip})


def _recipient(rng: random.Random, domain: str) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    shape = rng.random()
    if shape < 0.4:
        local = f"{first}.{last}"
    elif shape < 0.7:
        local = f"{first}{last[0]}{rng.randint(1, 99)}"
    else:
        local = f"{first[0]}{last}{rng.randint(1970, 2005)}"
    return f"{local}@{domain}"


def _size(rng: random.Random, account: Account) -> int:
    size = rng.lognormvariate(math.log(account.size_median), 0.5)
    if rng.random() < 0.02:  # an attachment
        size += rng.lognormvariate(math.log(900_000), 0.8)
    return int(min(size, 35_000_000))


def _delay_ms(rng: random.Random, system: MailSystem) -> int:
    return max(40, round(rng.lognormvariate(math.log(system.delay_median_ms), system.delay_sigma)))


def _render(rng: random.Random, reply: Reply, ctx: dict[str, str], moment: float) -> dict[str, Any]:
    values = {
        **ctx,
        "id": f"{rng.getrandbits(48):012x}",
        "ts": str(int(moment)),
        "n": str(rng.randint(1000, 9999)),
        "mx_ip": f"203.0.113.{rng.randint(1, 254)}" if ctx["mx"].startswith("mx1.") else "198.18.0.25",
    }
    rendered: dict[str, Any] = {"response": reply.text.format(**values)}
    if reply.code is not None:
        rendered["status_code"] = reply.code
    if reply.enhanced is not None:
        rendered["enhanced_status"] = reply.enhanced
    return rendered


# ------------------------------------------------------------------------ node metrics

ROLE_SERVICES: Final[dict[str, tuple[str, ...]]] = {
    "zonemta-outbound": ("zone-mta",),
    "postfix": ("postfix",),
    "haraka": ("haraka",),
    "wildduck": ("wildduck", "nginx"),
    "dovecot": ("dovecot",),
    "rspamd": ("rspamd",),
    "mongodb": ("mongod",),
    "redis": ("redis-server",),
    "other": ("node_exporter",),
}
# role: (cpu base %, cpu per unit of traffic %, memory %, extra data mount or None, cores)
ROLE_PROFILE: Final[dict[str, tuple[float, float, float, str | None, int]]] = {
    "zonemta-outbound": (8, 30, 48, "/var/lib/zone-mta", 8),
    "postfix": (5, 18, 35, "/var/spool/postfix", 4),
    "haraka": (6, 20, 40, None, 4),
    "wildduck": (10, 25, 55, None, 8),
    "dovecot": (6, 15, 45, "/var/vmail", 4),
    "rspamd": (12, 35, 60, "/var/lib/rspamd", 8),
    "mongodb": (15, 25, 78, "/var/lib/mongodb", 16),
    "redis": (4, 8, 62, "/var/lib/redis", 4),
    "other": (3, 2, 30, None, 2),
}


@dataclass(slots=True)
class NodeMetricsModel:
    """Resource readings for simulated nodes; network counters grow like psutil's."""

    seed: int
    _counters: dict[str, list[int]] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)

    def sample(self, node: FleetNode, moment: float, *, queue_size: int | None = None) -> dict[str, Any]:
        """One report for ``node`` at ``moment`` in the /api/v1/nodes/metrics format."""
        rng = random.Random(f"metrics:{self.seed}:{node.hostname}:{int(moment)}")
        stable = random.Random(f"node:{self.seed}:{node.hostname}")
        base_cpu, cpu_per_load, memory, data_mount, cores = ROLE_PROFILE.get(node.role, ROLE_PROFILE["other"])
        load = diurnal_factor(moment)
        cpu = min(100.0, max(0.5, base_cpu + cpu_per_load * load + rng.gauss(0, 3)))
        disks = {"/": _disk(stable, rng, 0.25, 0.45, 40)}
        if data_mount:
            # Data disks fill slowly over the day, so the trend is visible on a chart.
            disks[data_mount] = _disk(stable, rng, 0.35, 0.7, 500, growth=(moment % DAY) / DAY * 0.02)
        rx, tx = self._network(node, moment, load, stable)
        report: dict[str, Any] = {
            "hostname": node.hostname,
            "time": format_time(moment),
            "role": node.role,
            "cpu_percent": round(cpu, 1),
            "memory_percent": round(min(99.0, memory + 4 * load + rng.gauss(0, 1.5)), 1),
            "swap_percent": round(max(0.0, stable.uniform(0, 6) + rng.gauss(0, 0.3)), 1),
            "disks": disks,
            "net_rx_bytes": rx,
            "net_tx_bytes": tx,
            "load1": round(max(0.0, cpu / 100 * cores + rng.gauss(0, 0.2)), 2),
            "load5": round(max(0.0, cpu / 100 * cores * 0.95), 2),
            "load15": round(max(0.0, cpu / 100 * cores * 0.9), 2),
            "services": {name: True for name in ROLE_SERVICES.get(node.role, ROLE_SERVICES["other"])},
        }
        if queue_size is not None:
            report["queue_size"] = max(0, int(queue_size))
        return report

    def _network(self, node: FleetNode, moment: float, load: float, stable: random.Random) -> tuple[int, int]:
        counters = self._counters.setdefault(
            node.hostname, [stable.randint(10**9, 10**11), stable.randint(10**9, 10**11)]
        )
        elapsed = max(0.0, moment - self._last.get(node.hostname, moment))
        self._last[node.hostname] = moment
        outbound = node.role in OUTBOUND_ROLES
        rx_rate = 400_000 * load * stable.uniform(0.5, 1.5)
        tx_rate = rx_rate * (3.0 if outbound else 0.6)
        counters[0] += int(rx_rate * elapsed)
        counters[1] += int(tx_rate * elapsed)
        return counters[0], counters[1]


def _disk(
    stable: random.Random, rng: random.Random, low: float, high: float, size_gb: int, growth: float = 0.0
) -> dict[str, float | int]:
    used = min(0.98, stable.uniform(low, high) + growth)
    total = size_gb * 1024**3
    return {
        "used_percent": round(100 * used, 1),
        "free_bytes": int(total * (1 - used)) + rng.randint(0, 2**20),
        "total_bytes": total,
    }
