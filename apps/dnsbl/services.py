"""Writes of the DNSBL module: run a round, apply its answers, pause/resume IPs, check requests.

Every path (beat's due slices, "check now" from a page or the API, ``manage.py
dnsbl_check``) ends in :func:`dnsbl_round_run`, which runs the Django-free checker
(``checker.py``) and hands its report to :func:`dnsbl_report_apply`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Mod
from django.utils import timezone

from apps.core.audit import audit_record
from apps.core.dns import resolver_settings, run_async
from apps.core.live import broadcast
from apps.core.redis import get_redis
from apps.ips.choices import IpStatus
from apps.ips.models import SendingIP
from apps.ips.services import ip_activate, ip_pause

from . import hooks
from .checker import CLEAN, ERROR, LISTED, Report, Result, ZoneSpec, check_round
from .choices import Outcome, ZoneHealth
from .models import DnsblAutoPause, DnsblChange, DnsblDomain, DnsblState, DnsblZone
from .ratelimit import RedisZoneLimiter


@dataclass(frozen=True)
class Actor:
    """Who the audit log names for the checker's own decisions."""

    name: str = "dnsbl-checker"


CHECKER = Actor()


@dataclass
class RoundSummary:
    ips: int = 0
    domains: int = 0
    queries: int = 0
    seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)
    unhealthy: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)  # "198.51.100.7 zen.spamhaus.org 127.0.0.2 (SBL …)"
    paused: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "ips": self.ips, "domains": self.domains, "queries": self.queries, "seconds": round(self.seconds, 3),
            "listed": self.outcomes[LISTED], "clean": self.outcomes[CLEAN], "errors": self.outcomes[ERROR],
            "unhealthy_zones": self.unhealthy, "paused": self.paused, "resumed": self.resumed,
            "warnings": self.warnings,
        }


def zone_spec(zone: DnsblZone) -> ZoneSpec:
    listed, clean = zone.canaries
    return ZoneSpec(
        id=zone.pk, name=zone.name, query_zone=zone.query_zone, kind=zone.kind, canary_listed=listed,
        canary_clean=clean, max_qps=zone.max_qps if zone.max_qps is not None else settings.MAILMON_DNSBL_ZONE_QPS,
    )


def dnsbl_round_run(*, ips: Sequence[SendingIP] = (), domains: Sequence[DnsblDomain] = ()) -> RoundSummary:
    """Check ``ips`` and ``domains`` on every enabled zone (after its canaries) and apply the answers."""
    zones = list(DnsblZone.objects.enabled())
    dns = resolver_settings()
    report = run_async(check_round(
        ips=[ip.address for ip in ips], domains=[d.name for d in domains], zones=[zone_spec(z) for z in zones],
        resolvers=dns.resolvers, timeout=dns.timeout, tries=dns.tries, concurrency=settings.MAILMON_DNSBL_CONCURRENCY,
        limiter=RedisZoneLimiter(settings.CACHES["default"]["LOCATION"]),
    ))
    return dnsbl_report_apply(report=report, ips=ips, domains=domains, zones=zones)


def dnsbl_report_apply(
    *, report: Report, ips: Sequence[SendingIP], domains: Sequence[DnsblDomain], zones: Sequence[DnsblZone],
    now: dt.datetime | None = None,
) -> RoundSummary:
    """Store one round: zone health, states and history, pauses and resumes, reputation scores."""
    now = now or timezone.now()
    summary = RoundSummary(ips=len(ips), domains=len(domains), queries=report.queries, seconds=report.seconds)
    summary.outcomes.update(r.outcome for r in report.results)
    by_id = {zone.pk: zone for zone in zones}
    with transaction.atomic():
        _zones_health(report, by_id, summary, now)
        ip_by_address = {ip.address: ip for ip in ips}
        domain_by_name = {d.name: d for d in domains}
        changed_ips = _states_apply(report.results, by_id, ip_by_address, domain_by_name, summary, now)
        _pauses_apply(changed_ips, summary, now)
        _resumes_apply(ips, summary, now)
        _reputation_apply(ips)
    transaction.on_commit(lambda: broadcast("dnsbl", "round", summary.as_dict()))
    return summary


def _zones_health(report: Report, zones: dict[int, DnsblZone], summary: RoundSummary, now: dt.datetime) -> None:
    errors = Counter(r.zone_id for r in report.results if r.outcome == ERROR)
    totals = Counter(r.zone_id for r in report.results)
    first_error = {}
    for r in report.results:
        if r.outcome == ERROR:
            first_error.setdefault(r.zone_id, r.error)
    for zone_id, health in report.health.items():
        zone = zones[zone_id]
        was = zone.health
        zone.health = ZoneHealth.HEALTHY if health.healthy else ZoneHealth.UNHEALTHY
        zone.health_detail, zone.health_checked_at = health.detail[:255], now
        error = health.error or (first_error.get(zone_id, "") if errors[zone_id] * 2 > totals[zone_id] else "")
        zone.error_runs = zone.error_runs + 1 if error else 0
        zone.last_error = error[:255] if error else zone.last_error
        zone.save(update_fields=["health", "health_detail", "health_checked_at", "error_runs", "last_error"])
        if not health.healthy:
            summary.unhealthy.append(zone.name)
            if was != ZoneHealth.UNHEALTHY:
                hooks.notify("zone_unhealthy", zone=zone.name, detail=health.detail)
        if zone.error_runs >= settings.MAILMON_DNSBL_ERROR_WARN_RUNS:
            warning = resolver_warning(zone)
            summary.warnings.append(warning)
            if zone.error_runs == settings.MAILMON_DNSBL_ERROR_WARN_RUNS:
                hooks.notify("resolver_misconfigured", zone=zone.name, detail=warning)


def resolver_warning(zone: DnsblZone) -> str:
    return (
        f"{zone.name}: {zone.error_runs} runs in a row answered mostly errors (last: {zone.last_error}). "
        "The resolver is probably misconfigured: Spamhaus and others refuse public resolvers; "
        "point MAILMON_DNS_RESOLVERS at your own recursive resolver."
    )


def _states_apply(
    results: Iterable[Result], zones: dict[int, DnsblZone], ips: dict[str, SendingIP],
    domains: dict[str, DnsblDomain], summary: RoundSummary, now: dt.datetime,
) -> list[tuple[SendingIP, DnsblState, DnsblZone]]:
    """Update each (target, zone) state and its streaks; history rows for every change."""
    wanted = Q(ip__in=list(ips.values())) | Q(domain__in=list(domains.values()))
    existing = {(s.ip_id, s.domain_id, s.zone_id): s for s in DnsblState.objects.filter(wanted)}
    new_states, updated, changes, listed_ips = [], [], [], []
    for result in results:
        ip, domain = ips.get(result.target), domains.get(result.target)
        if ip is None and domain is None:
            continue  # a canary or a target that vanished meanwhile
        key = (ip.pk if ip else None, domain.pk if domain else None, result.zone_id)
        state = existing.get(key)
        if state is None:
            state = DnsblState(ip=ip, domain=domain, zone_id=result.zone_id, state=Outcome.ERROR, checked_at=now)
            new_states.append(state)
        else:
            updated.append(state)
        change = _state_step(state, result, now)
        if change is not None:
            changes.append(change)
            _announce(change, zones[result.zone_id], result, summary)
        if ip is not None and result.outcome == LISTED:
            listed_ips.append((ip, state, zones[result.zone_id]))
    DnsblState.objects.bulk_create(new_states)
    DnsblState.objects.bulk_update(updated, STATE_FIELDS, batch_size=500)
    DnsblChange.objects.bulk_create(changes, batch_size=500)
    return listed_ips


STATE_FIELDS = ["state", "code", "reason", "error", "listed_since", "delisted_at", "checked_at",
                "listed_streak", "clean_streak", "error_streak"]


def _state_step(state: DnsblState, result: Result, now: dt.datetime) -> DnsblChange | None:
    """Advance one state by one answer. Errors leave the trusted state and its streaks alone."""
    state.checked_at = now
    previous = state.state
    if result.outcome == ERROR:
        state.error, state.error_streak = result.error[:255], state.error_streak + 1
        if state.error_streak == 1:
            return _change(state, Outcome.ERROR, previous, now, error=result.error, code=result.code)
        return None
    state.error, state.error_streak = "", 0
    if result.outcome == LISTED:
        state.listed_streak, state.clean_streak = state.listed_streak + 1, 0
        moved = previous != Outcome.LISTED or state.code != result.code
        if previous != Outcome.LISTED:
            state.listed_since, state.delisted_at = now, None
        state.state, state.code, state.reason = Outcome.LISTED, result.code, result.reason
    else:
        state.clean_streak, state.listed_streak = state.clean_streak + 1, 0
        moved = previous != Outcome.CLEAN
        if previous == Outcome.LISTED:
            state.delisted_at = now
        state.state, state.code, state.reason = Outcome.CLEAN, "", ""
    return _change(state, state.state, previous, now, code=state.code, reason=state.reason) if moved else None


def _change(state: DnsblState, new: str, previous: str, now: dt.datetime, **fields) -> DnsblChange:
    """A history row; ``previous`` is empty for a target's first answer on a zone."""
    fields["error"] = fields.get("error", "")[:255]
    return DnsblChange(time=now, ip=state.ip, domain=state.domain, zone_id=state.zone_id, state=new,
                       previous="" if state.pk is None else previous, **fields)


def _announce(change: DnsblChange, zone: DnsblZone, result: Result, summary: RoundSummary) -> None:
    target = result.target
    if change.state == Outcome.LISTED:
        summary.listed.append(f"{target} {zone.name} {result.code} {zone.meaning(result.code)}".rstrip())
        hooks.notify("listed", target=target, zone=zone.name, code=result.code, meaning=zone.meaning(result.code),
                     detail=result.reason)
    elif change.state == Outcome.CLEAN and change.previous == Outcome.LISTED:
        hooks.notify("delisted", target=target, zone=zone.name)


def _pauses_apply(
    listed: list[tuple[SendingIP, DnsblState, DnsblZone]], summary: RoundSummary, now: dt.datetime
) -> None:
    """Pause an active IP after consecutive listings on a pause-worthy zone (never on one, never on errors)."""
    needed = settings.MAILMON_DNSBL_PAUSE_AFTER
    open_pauses = set(DnsblAutoPause.objects.filter(resumed_at__isnull=True).values_list("ip_id", flat=True))
    for ip, state, zone in listed:
        if not zone.may_pause or state.listed_streak < needed or ip.pk in open_pauses:
            continue
        if ip.status != IpStatus.ACTIVE:
            continue  # paused, quarantined or retired by someone else: not ours to pause
        meaning = zone.meaning(state.code)
        reason = (f"DNSBL: listed on {zone.name} with {state.code}{f' ({meaning})' if meaning else ''} "
                  f"on {state.listed_streak} consecutive checks")
        ip_pause(ip=ip, actor=CHECKER, reason=reason)
        DnsblAutoPause.objects.create(ip=ip, zone=zone, code=state.code, paused_at=now)
        open_pauses.add(ip.pk)
        summary.paused.append(ip.address)
        hooks.notify("ip_paused", target=ip.address, zone=zone.name, code=state.code, meaning=meaning, detail=reason)


def _resumes_apply(ips: Sequence[SendingIP], summary: RoundSummary, now: dt.datetime) -> None:
    """Resume (or, by setting, only announce) IPs the checker paused, once clean long enough."""
    pauses = DnsblAutoPause.objects.filter(resumed_at__isnull=True, ip__in=list(ips)).select_related("ip", "zone")
    needed = settings.MAILMON_DNSBL_RESUME_AFTER
    for pause in pauses:
        states = DnsblState.objects.filter(ip=pause.ip, zone__enabled=True, zone__may_pause=True)
        if not states or any(s.state != Outcome.CLEAN or s.clean_streak < needed for s in states):
            continue
        reason = (f"DNSBL: clean on every pause-worthy zone for {needed} consecutive checks "
                  f"(paused for {pause.zone.name})")
        if not settings.MAILMON_DNSBL_AUTO_RESUME:
            if pause.resume_notified_at is None:
                pause.resume_notified_at = now
                pause.save(update_fields=["resume_notified_at"])
                hooks.notify("resume_due", target=pause.ip.address, zone=pause.zone.name, detail=reason)
            continue
        ip = SendingIP.objects.get(pk=pause.ip_id)
        if ip.status == IpStatus.PAUSED:
            ip_activate(ip=ip, actor=CHECKER, reason=reason)
            summary.resumed.append(ip.address)
            hooks.notify("ip_resumed", target=ip.address, zone=pause.zone.name, detail=reason)
        pause.resumed_at = now
        pause.save(update_fields=["resumed_at"])


def reputation_score(weights: Iterable[float]) -> float:
    """100 minus the weight of every zone the IP is listed on, never below 0."""
    return max(0.0, 100.0 - sum(weights))


def _reputation_apply(ips: Sequence[SendingIP]) -> None:
    weights: dict[int, list[float]] = {ip.pk: [] for ip in ips}
    listed = DnsblState.objects.listed().filter(ip__in=list(ips), zone__enabled=True)
    for ip_id, weight in listed.values_list("ip_id", "zone__weight"):
        weights[ip_id].append(weight)
    for ip in ips:
        score = reputation_score(weights[ip.pk])
        if ip.reputation_score != score:
            ip.reputation_score = score
            SendingIP.objects.filter(pk=ip.pk).update(reputation_score=score)


# --- "check now" and the beat slices -------------------------------------------------------------

def _progress_key(run: str) -> str:
    return f"dnsbl:run:{run}"


def dnsbl_check_request(
    *, ips: Sequence[SendingIP], actor, remote_addr: str | None = None, domains: Sequence[DnsblDomain] = (),
) -> dict:
    """Queue a check of ``ips`` now, in chunks across the workers; progress arrives on the live stream."""
    from .tasks import check_chunk_task

    run = uuid.uuid4().hex[:12]
    chunks = list(_chunks([ip.pk for ip in ips], settings.MAILMON_DNSBL_CHUNK_IPS)) or [[]]
    total = len(ips) + len(domains)
    get_redis().hset(_progress_key(run), mapping={"total": total, "done": 0})
    get_redis().expire(_progress_key(run), 86400)
    audit_record(actor=actor, action="dnsbl.check_now", object_type="dnsbl.run", object_id=run,
                 after={"ips": [ip.address for ip in ips][:100], "count": len(ips)}, remote_addr=remote_addr)
    domain_ids = [d.pk for d in domains]
    for index, chunk in enumerate(chunks):
        extra = domain_ids if index == 0 else []
        transaction.on_commit(lambda c=chunk, d=extra: check_chunk_task.delay(ip_ids=c, domain_ids=d, run=run))
    return {"run": run, "total": total, "chunks": len(chunks)}


def dnsbl_chunk_check(*, ip_ids: Sequence[int], domain_ids: Sequence[int] = (), run: str | None = None) -> dict:
    """One chunk (a task): check, apply, report progress of its run."""
    ips = list(SendingIP.objects.filter(pk__in=ip_ids))
    domains = list(DnsblDomain.objects.filter(pk__in=domain_ids, enabled=True))
    summary = dnsbl_round_run(ips=ips, domains=domains).as_dict()
    if run:
        done = get_redis().hincrby(_progress_key(run), "done", len(ip_ids) + len(domain_ids))
        total = int(get_redis().hget(_progress_key(run), "total") or done)
        progress = {"run": run, "done": done, "total": total, **summary}
        transaction.on_commit(lambda: broadcast("dnsbl", "progress", progress))
    return summary


def dnsbl_run_progress(run: str) -> dict | None:
    data = get_redis().hgetall(_progress_key(run))
    return {k.decode(): int(v) for k, v in data.items()} if data else None


def ips_to_check(*, addresses: Sequence[str], every: bool = False) -> list[SendingIP]:
    """The sending IPs named (or all checked ones); ValueError names what is not a sending IP."""
    if every:
        return list(checked_ips())
    if not addresses:
        raise ValueError("name at least one sending IP (or ask for all)")
    normal, bad = {}, []
    for address in addresses:
        try:
            normal[str(ipaddress.ip_address(address.strip()))] = address
        except ValueError:
            bad.append(address)
    found = list(SendingIP.objects.filter(address__in=list(normal)))
    bad += [normal[a] for a in normal if a not in {ip.address for ip in found}]
    if bad:
        raise ValueError(f"not a sending IP: {', '.join(sorted(bad))}")
    return found


def checked_ips():
    """IPs every round covers: all but retired ones (paused IPs too, so they can resume)."""
    return SendingIP.objects.exclude(status=IpStatus.RETIRED)


def dnsbl_due_dispatch(*, now: dt.datetime | None = None) -> int:
    """Beat, every minute: queue this minute's slice (id mod interval), so each IP is checked
    once per ``MAILMON_DNSBL_INTERVAL_MINUTES`` and the load is spread evenly. Returns chunks queued."""
    from .tasks import check_chunk_task

    now = now or timezone.now()
    minutes = settings.MAILMON_DNSBL_INTERVAL_MINUTES
    slot = int(now.timestamp() // 60) % minutes
    ip_ids = list(checked_ips().alias(slot=Mod("pk", minutes)).filter(slot=slot)
                  .order_by("pk").values_list("pk", flat=True))
    domain_ids = list(DnsblDomain.objects.filter(enabled=True).alias(slot=Mod("pk", minutes)).filter(slot=slot)
                      .values_list("pk", flat=True))
    chunks = list(_chunks(ip_ids, settings.MAILMON_DNSBL_CHUNK_IPS))
    if domain_ids and not chunks:
        chunks = [[]]
    for index, chunk in enumerate(chunks):
        check_chunk_task.apply_async(kwargs={"ip_ids": chunk, "domain_ids": domain_ids if index == 0 else []},
                                     expires=55)
    return len(chunks)


def _chunks(items: Sequence[int], size: int):
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
