"""Reads for warmup pages and API: quota progress, metrics, throughput, one mailbox's history."""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from .choices import MailboxStatus, SendOutcome
from .managers import sees_all_mailboxes
from .models import WarmupDay, WarmupEngine, WarmupMailbox, WarmupSend
from .planner import DAY_SECONDS, quota

BEHIND_RATIO = 0.9  # below 90 % of what is due by now counts as behind
HEALTH_CRITICAL, HEALTH_DEGRADED, HEALTH_HEALTHY = 0, 1, 2
METRIC_HELP = {
    "warmup_total_mailboxes": "Warmup mailboxes",
    "warmup_active_mailboxes": "Warmup mailboxes enabled and active",
    "warmup_emails_sent_today": "Warmup messages accepted by the SMTP server today (UTC)",
    "warmup_emails_failed_today": "Warmup messages that failed for good today (UTC)",
    "warmup_throughput_per_hour": "Warmup messages sent in the last hour",
    "warmup_quota_completion_rate": "Sent today / today's quota over enabled mailboxes (0-1)",
    "warmup_system_health": "0 critical, 1 degraded, 2 healthy",
    "warmup_mailbox_quota_fill": "Sent today / today's quota per mailbox (0-1)",
}


def expected_by(quota_today: int, now: dt.datetime) -> int:
    seconds = (now - dt.datetime.combine(now.date(), dt.time.min, tzinfo=dt.UTC)).total_seconds()
    return math.floor(quota_today * seconds / DAY_SECONDS)


def _visible_sends(user):
    sends = WarmupSend.objects.all()
    return sends if sees_all_mailboxes(user) else sends.filter(owner_user_id=user.pk)


def quota_rows(
    *, user, now: dt.datetime | None = None, status: str | None = None, mailbox_ids: list[int] | None = None
) -> list[dict]:
    """Every visible mailbox with today's quota, what is due by now, sent, failed and fill."""
    now = now or timezone.now()
    day = now.date()
    visible = WarmupMailbox.objects.for_user(user)
    days = WarmupDay.objects.filter(day=day)
    if mailbox_ids is not None:
        visible, days = visible.filter(pk__in=mailbox_ids), days.filter(mailbox_id__in=mailbox_ids)
    mailboxes = visible.order_by("address").values_list(
        "id", "address", "owner__username", "provider", "status", "enabled",
        "daily_target", "ramp_start", "ramp_increase", "ramp_ceiling", "started_on",
    )
    if not sees_all_mailboxes(user):
        days = days.filter(mailbox__owner=user)
    counts = {m: (s, f) for m, s, f in days.values_list("mailbox_id", "sent", "failed")}
    rows = []
    for mid, address, owner, provider, state, enabled, target, start, inc, ceiling, started in mailboxes:
        today = quota(target, start, inc, ceiling, (day - started).days)
        sent, failed = counts.get(mid, (0, 0))
        expected = expected_by(today, now)
        behind = enabled and state != MailboxStatus.PAUSED and sent < math.floor(expected * BEHIND_RATIO)
        row = {"id": mid, "address": address, "owner": owner, "provider": provider, "status": state,
               "enabled": enabled, "quota": today, "expected_by_now": expected, "sent": sent, "failed": failed,
               "fill": round(min(1.0, sent / today), 4) if today else 0.0, "behind": behind}
        if status != "behind" or behind:
            rows.append(row)
    return rows


def engine_status() -> dict:
    engine = WarmupEngine.load()
    return {
        "running": engine.running,
        "changed_by": engine.changed_by,
        "changed_at": engine.changed_at,
        "last_cycle_at": engine.last_cycle_at,
        "last_cycle_planned": engine.last_cycle_planned,
        "last_cycle_ms": engine.last_cycle_ms,
        "interval_seconds": settings.MAILMON_WARMUP_INTERVAL,
        "limits": {
            "global_per_minute": settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE,
            "global_per_hour": settings.MAILMON_WARMUP_GLOBAL_PER_HOUR,
            "user_per_hour": settings.MAILMON_WARMUP_USER_PER_HOUR,
            "provider_per_hour": settings.MAILMON_WARMUP_PROVIDER_PER_HOUR,
        },
    }


def system_health(*, enabled: int, completion: float, sent_hour: int, failed_hour: int, now: dt.datetime) -> int:
    """Critical: the engine is stopped or has not planned for 3 intervals, or most sends fail.
    Degraded: over 10 % of sends fail, or mailboxes are at under 80 % of their pace. Else healthy.
    Nothing to warm up is healthy."""
    if not enabled:
        return HEALTH_HEALTHY
    engine = WarmupEngine.load()
    stale = now - dt.timedelta(seconds=3 * settings.MAILMON_WARMUP_INTERVAL)
    attempts = sent_hour + failed_hour
    if not engine.running or engine.last_cycle_at is None or engine.last_cycle_at < stale:
        return HEALTH_CRITICAL
    if attempts and failed_hour / attempts > 0.5:
        return HEALTH_CRITICAL
    if (attempts and failed_hour / attempts > 0.1) or completion < 0.8:
        return HEALTH_DEGRADED
    return HEALTH_HEALTHY


def metrics(*, user, now: dt.datetime | None = None, rows: list[dict] | None = None) -> dict:
    """The issue's metric set over the mailboxes ``user`` may see (``rows``: quota_rows already read)."""
    now = now or timezone.now()
    rows = quota_rows(user=user, now=now) if rows is None else rows
    enabled = [r for r in rows if r["enabled"]]
    due = sum(r["expected_by_now"] for r in enabled)
    on_pace = min(1.0, sum(min(r["sent"], r["expected_by_now"]) for r in enabled) / due) if due else 1.0
    quota_total = sum(r["quota"] for r in enabled)
    hour = _visible_sends(user).filter(time__gte=now - dt.timedelta(hours=1)).aggregate(
        sent=Count("id", filter=Q(outcome=SendOutcome.SENT)),
        failed=Count("id", filter=~Q(outcome=SendOutcome.SENT)),
    )
    return {
        "warmup_total_mailboxes": len(rows),
        "warmup_active_mailboxes": sum(1 for r in enabled if r["status"] == MailboxStatus.ACTIVE),
        "warmup_emails_sent_today": sum(r["sent"] for r in rows),
        "warmup_emails_failed_today": sum(r["failed"] for r in rows),
        "warmup_throughput_per_hour": hour["sent"],
        "warmup_quota_completion_rate": round(sum(min(r["sent"], r["quota"]) for r in enabled) / quota_total, 4)
        if quota_total else 0.0,
        "warmup_system_health": system_health(enabled=len(enabled), completion=on_pace, sent_hour=hour["sent"],
                                              failed_hour=hour["failed"], now=now),
        "warmup_mailbox_quota_fill": [{"id": r["id"], "mailbox": r["address"], "fill": r["fill"]} for r in rows],
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metrics_prometheus(data: dict) -> str:
    """The same figures as Prometheus text exposition (format 0.0.4)."""
    lines = []
    for name, help_text in METRIC_HELP.items():
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        if name == "warmup_mailbox_quota_fill":
            lines += [f'{name}{{mailbox="{_label(r["mailbox"])}",id="{r["id"]}"}} {r["fill"]}' for r in data[name]]
        else:
            lines.append(f"{name} {data[name]}")
    return "\n".join(lines) + "\n"


def throughput_series(*, user, now: dt.datetime | None = None, hours: int = 24) -> list[dict]:
    """Sends per hour over the last ``hours`` (sent vs not), oldest first, empty hours included."""
    now = now or timezone.now()
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=hours - 1)
    found = {
        row["hour"]: row
        for row in _visible_sends(user).filter(time__gte=start).annotate(hour=TruncHour("time")).values("hour")
        .annotate(sent=Count("id", filter=Q(outcome=SendOutcome.SENT)),
                  failed=Count("id", filter=~Q(outcome=SendOutcome.SENT)))
    }
    series = []
    for n in range(hours):
        hour = start + dt.timedelta(hours=n)
        row = found.get(hour, {})
        series.append({"hour": hour.isoformat(), "sent": row.get("sent", 0), "failed": row.get("failed", 0)})
    return series


def mailbox_history(*, mailbox: WarmupMailbox, days: int = 30, now: dt.datetime | None = None) -> list[dict]:
    """Daily sent/failed vs quota, oldest first (days without a row show zero)."""
    now = now or timezone.now()
    first = now.date() - dt.timedelta(days=days - 1)
    rows = {d.day: d for d in WarmupDay.objects.filter(mailbox=mailbox, day__gte=first)}
    history = []
    for n in range(days):
        day = first + dt.timedelta(days=n)
        row = rows.get(day)
        history.append({"day": day.isoformat(), "quota": mailbox.quota_for(day) if day >= mailbox.started_on else 0,
                        "sent": row.sent if row else 0, "failed": row.failed if row else 0,
                        "inbox": row.inbox if row else 0, "spam": row.spam if row else 0})
    return history


def placement_by_provider(*, user, days: int = 7, now: dt.datetime | None = None) -> list[dict]:
    """Warmup mail found by IMAP engagement in the inbox vs the spam folder, per receiving provider."""
    now = now or timezone.now()
    rows = WarmupDay.objects.filter(day__gte=now.date() - dt.timedelta(days=days - 1))
    if not sees_all_mailboxes(user):
        rows = rows.filter(mailbox__owner=user)
    grouped = rows.values("mailbox__provider").annotate(inbox=Sum("inbox"), spam=Sum("spam")).order_by(
        "mailbox__provider")
    result = []
    for row in grouped:
        total = (row["inbox"] or 0) + (row["spam"] or 0)
        if total:
            result.append({"provider": row["mailbox__provider"], "inbox": row["inbox"], "spam": row["spam"],
                           "inbox_rate": round(row["inbox"] / total, 4)})
    return result


def last_errors(*, mailbox: WarmupMailbox, limit: int = 20) -> list[WarmupSend]:
    return list(WarmupSend.objects.filter(mailbox=mailbox).exclude(outcome=SendOutcome.SENT).order_by("-time")[:limit])


def recent_sends(*, mailbox: WarmupMailbox, limit: int = 20) -> list[WarmupSend]:
    return list(WarmupSend.objects.filter(mailbox=mailbox).order_by("-time")[:limit])
