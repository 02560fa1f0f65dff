"""IP warmup: start, edit or stop one IP's warmup, and the daily step that advances or holds.

The daily step (``warmup_advance_all``, beat task ``ips.warmup_advance``) judges each warming
IP on its last UTC day: no attempts → not a sending day, nothing moves (warmup counts sending
days, not calendar days); a bounce rate ((bounced + rejected) / sent) or deferral rate over
``MAILMON_WARMUP_MAX_*`` → the IP is held on its day; otherwise it moves to the next day and
its limit, and past the schedule's last day it is warm (no limit). Each decision is audited
with its reason, and the MTAs' answer (``/api/v1/mta/pools``) follows at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core.audit import audit_record, snapshot

from .choices import IpStatus
from .models import SendingIP, WarmupSchedule
from .mta_version import mta_changed
from .selectors import ip_day_outcomes

WARMUP_FIELDS = ["warmup_schedule_id", "warmup_day", "warmup_started_on", "daily_limit"]
UNSET: Any = object()


def ip_warmup_set(
    *, ip: SendingIP, schedule: WarmupSchedule | None, day: int = 1, started_on: dt.date | None = None,
    daily_limit: int | None = UNSET, actor: Any, reason: str = "", remote_addr: str | None = None,
) -> SendingIP:
    """Put ``ip`` on ``schedule`` at sending day ``day`` with that day's limit (or ``daily_limit``);
    ``schedule=None`` ends the warmup (no limit unless ``daily_limit`` is given)."""
    before = snapshot(ip, WARMUP_FIELDS)
    if schedule is None:
        ip.warmup_schedule, ip.warmup_day, ip.warmup_started_on = None, None, None
        ip.daily_limit = None if daily_limit is UNSET else daily_limit
    else:
        if not 1 <= day <= schedule.days:
            raise ValidationError({"day": f"day: {schedule.name} has days 1 to {schedule.days}."})
        ip.warmup_schedule, ip.warmup_day = schedule, day
        ip.warmup_started_on = started_on or ip.warmup_started_on or timezone.now().date()
        ip.daily_limit = schedule.limit_for(day) if daily_limit is UNSET else daily_limit
    ip.full_clean()
    ip.save(update_fields=["warmup_schedule", "warmup_day", "warmup_started_on", "daily_limit", "updated_at"])
    audit_record(actor=actor, action="ip.warmup", obj=ip, before=before, after=snapshot(ip, WARMUP_FIELDS),
                 reason=reason, remote_addr=remote_addr)  # fmt: skip
    mta_changed()
    return ip


@dataclass(frozen=True)
class Decision:
    verdict: str  # "advance", "hold", "complete", "idle"
    reason: str


def warmup_decide(*, outcome: dict | None, max_bounce: float, max_deferral: float) -> Decision:
    """What one sending day means for an IP in warmup (pure: the rules in one place)."""
    if not outcome or not outcome["sent"]:
        return Decision("idle", "no attempts: not a sending day")
    sent = outcome["sent"]
    bounce, deferral = outcome["bounced"] / sent, outcome["deferred"] / sent
    figures = f"{sent} sent, bounce {bounce:.1%}, deferral {deferral:.1%}"
    if bounce > max_bounce:
        return Decision("hold", f"held: bounce rate {bounce:.1%} > {max_bounce:.0%} ({figures})")
    if deferral > max_deferral:
        top = f"; commonest: {outcome['top_deferral']}" if outcome.get("top_deferral") else ""
        return Decision("hold", f"held: deferral rate {deferral:.1%} > {max_deferral:.0%} ({figures}{top})")
    return Decision("advance", f"advanced: {figures}")


def warmup_advance_all(*, today: dt.date | None = None) -> dict[str, int]:
    """Judge every active IP in warmup on yesterday (UTC); returns how many of each verdict."""
    today = today or timezone.now().date()
    day = today - dt.timedelta(days=1)
    warming = list(
        SendingIP.objects.select_related("warmup_schedule")
        .filter(warmup_schedule__isnull=False, status=IpStatus.ACTIVE)
        .exclude(warmup_checked_on__gte=day)
    )  # fmt: skip
    outcomes = ip_day_outcomes(day=day, addresses=[ip.address for ip in warming]) if warming else {}
    counts = {"advance": 0, "hold": 0, "complete": 0, "idle": 0}
    for ip in warming:
        decision = warmup_decide(
            outcome=outcomes.get(ip.address), max_bounce=settings.MAILMON_WARMUP_MAX_BOUNCE_RATE,
            max_deferral=settings.MAILMON_WARMUP_MAX_DEFERRAL_RATE,
        )  # fmt: skip
        counts[_apply(ip, decision, day)] += 1
    return counts


def _apply(ip: SendingIP, decision: Decision, day: dt.date) -> str:
    with transaction.atomic():
        before = snapshot(ip, WARMUP_FIELDS)
        verdict = decision.verdict
        reason = f"{day:%Y-%m-%d}: {decision.reason}"
        if verdict == "advance":
            following = (ip.warmup_day or 0) + 1
            limit = ip.warmup_schedule.limit_for(following)
            if limit is None:
                verdict, reason = "complete", f"{reason}; schedule {ip.warmup_schedule.name} finished, no limit"
                ip.warmup_schedule, ip.warmup_day, ip.daily_limit = None, None, None
            else:
                ip.warmup_day, ip.daily_limit = following, limit
        ip.warmup_checked_on = day
        ip.save(update_fields=["warmup_schedule", "warmup_day", "daily_limit", "warmup_checked_on", "updated_at"])
        if verdict != "idle":
            audit_record(actor=None, action=f"ip.warmup_{verdict}", obj=ip, before=before,
                         after=snapshot(ip, WARMUP_FIELDS), reason=reason)  # fmt: skip
            mta_changed()
    return verdict
