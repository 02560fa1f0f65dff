"""One notion of health for the whole portal: pure rules, no database.

Nodes (status, services, CPU, memory, disk, queue), MTAs (queue growing, deferral or
bounce rate over the last window), sending IPs and recipient domains (bounce and
deferral rates) are judged here and nowhere else. Each judgement is a :class:`Health`:
a status (``ok``, ``warning``, ``critical``, ``unknown``, ``maintenance``) and the
reasons in words ("queue 1,488 and growing", "42.0 % of gmail.com deferred 4.7.28 in
15 min"). Pages take their colours from the status, never from event types; the
gathering of figures lives in ``apps/nodes/attention.py`` and
``apps/events/selectors_rates.py``. Thresholds come from settings (``MAILMON_HEALTH_*``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

OK, WARNING, CRITICAL, UNKNOWN, MAINTENANCE = "ok", "warning", "critical", "unknown", "maintenance"
# Worse first when sorting; ok, maintenance and unknown need no action from the health rules.
RANK = {CRITICAL: 4, WARNING: 3, UNKNOWN: 2, MAINTENANCE: 1, OK: 0}
NEEDS_ATTENTION = (CRITICAL, WARNING)
LABELS = {OK: "Healthy", WARNING: "Warning", CRITICAL: "Critical", UNKNOWN: "Unknown", MAINTENANCE: "Maintenance"}
QUEUE_GROWTH_FLOOR = 100  # a queue under this many messages is never "growing"


@dataclass(frozen=True)
class Thresholds:
    """Where healthy ends; rates are fractions of sent outcomes over ``window_minutes``."""

    cpu_percent: float = 90.0
    memory_percent: float = 90.0
    disk_percent: float = 85.0
    queue_size: int = 1000
    queue_growth: float = 0.2
    window_minutes: int = 15
    min_sent: int = 20
    deferral_warn: float = 0.10
    deferral_critical: float = 0.30
    bounce_warn: float = 0.05
    bounce_critical: float = 0.10

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(**{name: getattr(settings, f"MAILMON_HEALTH_{name.upper()}") for name in _SETTING_NAMES})

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.window_minutes)


_SETTING_NAMES = (
    "cpu_percent", "memory_percent", "disk_percent", "queue_size", "queue_growth", "window_minutes", "min_sent",
    "deferral_warn", "deferral_critical", "bounce_warn", "bounce_critical",
)  # fmt: skip


@dataclass(frozen=True)
class Health:
    status: str = OK
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return ", ".join(self.reasons)

    @property
    def label(self) -> str:
        return LABELS[self.status]

    @property
    def needs_attention(self) -> bool:
        return self.status in NEEDS_ATTENTION

    @property
    def rank(self) -> int:
        return RANK[self.status]


def combine(*parts: Health) -> Health:
    """The worst status of the parts, with every reason of the parts that are not healthy."""
    status = max((p.status for p in parts), key=RANK.__getitem__, default=OK)
    reasons = tuple(r for p in parts if p.status != OK for r in p.reasons)
    return Health(status, reasons)


# --- Words ---


def number(n: int) -> str:
    return f"{n:,}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f} %"


def optional_percent(fraction: float | None) -> str:
    return "—" if fraction is None else percent(fraction)


def milliseconds(ms: float | None) -> str:
    """1234 → "1.2 s", 416053 → "6.9 min"."""
    if ms is None:
        return "—"
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms:.0f} ms"


def duration(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# --- Nodes ---


@dataclass(frozen=True)
class NodeSnapshot:
    """What is known of a node now: its status and its latest agent report."""

    status: str
    silent_for: dt.timedelta | None = None
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disks: Mapping[str, Mapping] = field(default_factory=dict)  # {mount: {"used_percent": …}}
    services: Mapping[str, bool] = field(default_factory=dict)
    queue_size: int | None = None
    queue_before: int | None = None  # the queue one window ago


def worst_disk(disks: Mapping[str, Mapping]) -> tuple[str, float] | None:
    used = [(mount, float(d["used_percent"])) for mount, d in disks.items()
            if isinstance(d, Mapping) and isinstance(d.get("used_percent"), int | float)]  # fmt: skip
    return max(used, key=lambda item: item[1]) if used else None


def node_health(node: NodeSnapshot, t: Thresholds) -> Health:
    """Offline or a service down is critical; degraded or a resource over its threshold a warning."""
    if node.status == "maintenance":
        return Health(MAINTENANCE, ("in maintenance",))
    if node.status == "offline":
        silent = f", silent for {duration(node.silent_for)}" if node.silent_for is not None else ""
        return Health(CRITICAL, (f"offline{silent}",))
    if node.status == "unknown" or node.silent_for is None:
        return Health(UNKNOWN, ("no agent report yet",))
    parts = [_services_health(node), _resources_health(node, t), queue_health(node.queue_size, node.queue_before, t)]
    return combine(*parts)


def _services_health(node: NodeSnapshot) -> Health:
    down = sorted(name for name, up in node.services.items() if not up)
    if down:
        return Health(CRITICAL, (f"{', '.join(down)} down",))
    if node.status == "degraded":
        return Health(WARNING, ("degraded",))
    return Health()


def _resources_health(node: NodeSnapshot, t: Thresholds) -> Health:
    reasons = []
    if node.cpu_percent is not None and node.cpu_percent >= t.cpu_percent:
        reasons.append(f"CPU {node.cpu_percent:.0f} %")
    if node.memory_percent is not None and node.memory_percent >= t.memory_percent:
        reasons.append(f"memory {node.memory_percent:.0f} %")
    disk = worst_disk(node.disks)
    if disk is not None and disk[1] >= t.disk_percent:
        reasons.append(f"disk {disk[0]} {disk[1]:.0f} %")
    return Health(WARNING, tuple(reasons)) if reasons else Health()


def queue_growing(now: int | None, before: int | None, t: Thresholds) -> bool:
    if now is None or before is None:
        return False
    return now >= QUEUE_GROWTH_FLOOR and now > before * (1 + t.queue_growth)


def queue_health(now: int | None, before: int | None, t: Thresholds) -> Health:
    """Over the size threshold: warning, critical while it also grows; growing alone: warning."""
    if now is None:
        return Health()
    growing = queue_growing(now, before, t)
    if now >= t.queue_size:
        words = f"queue {number(now)}" + (" and growing" if growing else "")
        return Health(CRITICAL if growing else WARNING, (words,))
    if growing:
        return Health(WARNING, (f"queue {number(now)} and growing (from {number(before or 0)})",))
    return Health()


# --- Outcome rates: MTAs, sending IPs, recipient domains ---


@dataclass(frozen=True)
class Cause:
    """The commonest reason behind a rate: ``count`` of ``of`` events to ``domain`` (if known)
    ended ``type`` with ``code`` (enhanced status, or SMTP code)."""

    type: str
    code: str
    count: int
    of: int
    domain: str | None = None


@dataclass(frozen=True)
class Rates:
    """Outcomes over the health window: sent = delivered + bounced + deferred + rejected."""

    sent: int = 0
    delivered: int = 0
    deferred: int = 0
    bounced: int = 0
    causes: tuple[Cause, ...] = ()  # commonest first, at most one per type

    @property
    def deferral_rate(self) -> float | None:
        return self.deferred / self.sent if self.sent else None

    @property
    def bounce_rate(self) -> float | None:
        return self.bounced / self.sent if self.sent else None

    def cause(self, type: str) -> Cause | None:
        return next((c for c in self.causes if c.type == type), None)


def _rate_words(rates: Rates, type: str, rate: float, window: str, subject: str | None) -> str:
    verb = "deferred" if type == "deferred" else "bounced"
    cause = rates.cause(type)
    if cause is not None and cause.domain and subject is None and cause.of:
        return f"{percent(cause.count / cause.of)} of {cause.domain} {verb} {cause.code} in {window}".replace("  ", " ")
    code = f" ({cause.code})" if cause is not None and cause.code else ""
    return f"{percent(rate)} {verb} in {window}{code}"


def rate_health(rates: Rates, t: Thresholds, *, subject: str | None = None) -> Health:
    """Deferral and bounce rates against their thresholds, judged from ``min_sent`` outcomes up.

    ``subject`` names the domain when judging one (its cause then needs no domain)."""
    if rates.sent < t.min_sent:
        return Health()
    window = f"{t.window_minutes} min"
    status, reasons = OK, []
    for type, rate, warn, critical in (
        ("deferred", rates.deferral_rate, t.deferral_warn, t.deferral_critical),
        ("bounced", rates.bounce_rate, t.bounce_warn, t.bounce_critical),
    ):
        if rate is None or rate < warn:
            continue
        level = CRITICAL if rate >= critical else WARNING
        status = max(status, level, key=RANK.__getitem__)
        reasons.append(_rate_words(rates, type, rate, window, subject))
    return Health(status, tuple(reasons))


def mta_health(node: NodeSnapshot, rates: Rates, t: Thresholds) -> Health:
    """An outbound MTA: the node's own health, its queue and what its deliveries met."""
    return combine(node_health(node, t), rate_health(rates, t))


def ip_health(rates: Rates, t: Thresholds) -> Health:
    return rate_health(rates, t)


def domain_health(domain: str, rates: Rates, t: Thresholds) -> Health:
    return rate_health(rates, t, subject=domain)
