"""Writes of the alerts module: rules, channels, silences, acknowledgements, evaluation, delivery.

Views, API, admin and tasks all call these functions.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from apps.core.audit import audit_record, snapshot
from apps.core.live import broadcast

from .choices import AlertStatus, NotificationKind, NotificationStatus
from .context_processors import BADGE_CACHE_KEY
from .evaluate import RoundResult, SampleCache, evaluate_round, gc_paused
from .models import Alert, Channel, Notification, NotificationAttempt, Rule, Silence
from .notify import DeliveryError, deliver, message_payload

RULE_FIELDS = [
    "name", "source", "condition", "threshold", "for_seconds", "window_seconds", "min_volume", "severity",
    "scope", "group_by", "labels", "hysteresis", "resolve_seconds", "enabled",
]
CHANNEL_FIELDS = ["name", "kind", "url", "to", "enabled", "alertmanager"]
# The navigation badge reads the firing count from the cache (no query per page); every
# evaluation round (30 s) and acknowledgement refreshes it.
BADGE_TTL = 300


def _public(obj, fields: list[str]) -> dict[str, Any]:
    return snapshot(obj, fields)


# --- rules ---


def rule_save(*, rule: Rule | None = None, actor, channels: list[Channel] | None = None, **fields) -> Rule:
    """Create (``rule=None``) or update a rule; ``channels`` replaces its routes when given."""
    creating = rule is None
    rule = rule or Rule()
    before = None if creating else _public(rule, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    if channels is not None:
        rule.channels.set(channels)
    audit_record(actor=actor, action="rule.create" if creating else "rule.change", obj=rule,
                 before=before, after=_public(rule, RULE_FIELDS))
    return rule


def rule_delete(*, rule: Rule, actor) -> None:
    before, pk = _public(rule, RULE_FIELDS), str(rule.pk)
    rule.delete()
    audit_record(actor=actor, action="rule.delete", object_type="alerts.rule", object_id=pk, before=before)


def rule_preview(*, rule: Rule, now: dt.datetime | None = None) -> dict[str, Any]:
    """Evaluate the rule now against current data, changing nothing: what would it fire on?"""
    samples = SampleCache(now or timezone.now()).for_rule(rule)
    matching = [s for s in samples if rule.holds(s.value)]
    return {
        "subjects": len(samples),
        "matching": [{"subject": s.subject, "value": s.value, "volume": s.volume} for s in matching],
        "note": "" if samples else "No current data for this source and scope.",
    }


# --- channels ---


def channel_save(*, channel: Channel | None = None, actor, secret: str | None = None, **fields) -> Channel:
    """Create or update a channel; ``secret=None`` keeps the stored one (it is never shown)."""
    creating = channel is None
    channel = channel or Channel()
    before = None if creating else _public(channel, CHANNEL_FIELDS)
    for name, value in fields.items():
        setattr(channel, name, value)
    if secret is not None:
        channel.secret = secret
    channel.full_clean()
    channel.save()
    after = {**_public(channel, CHANNEL_FIELDS), "secret_changed": secret is not None}
    audit_record(actor=actor, action="channel.create" if creating else "channel.change", obj=channel,
                 before=before, after=after)
    return channel


def channel_test(*, channel: Channel, actor) -> Notification:
    """Queue a test message through the channel (delivered like any other, attempts logged)."""
    payload = message_payload(kind=NotificationKind.TEST, rule_name="Test notification", alerts=[])
    notification = Notification.objects.create(channel=channel, kind=NotificationKind.TEST, payload=payload)
    audit_record(actor=actor, action="channel.test", obj=channel)
    _dispatch([notification.pk])
    return notification


def notification_deliver(*, notification: Notification, final_attempt: bool) -> bool:
    """One delivery attempt, logged. On the last failed attempt the channel is marked failing
    (its own portal alert fires on the next evaluation). Returns success; raises nothing."""
    channel = notification.channel
    number = notification.attempts + 1
    try:
        detail, ok = deliver(channel, notification.payload), True
    except DeliveryError as exc:
        detail, ok = str(exc)[:500], False
    now = timezone.now()
    NotificationAttempt.objects.create(notification=notification, number=number, ok=ok, detail=detail)
    notification.attempts = number
    if ok:
        notification.status, notification.sent_at, notification.last_error = NotificationStatus.SENT, now, ""
        if channel.failing_since:
            Channel.objects.filter(pk=channel.pk).update(failing_since=None, last_error="")
    else:
        notification.last_error = detail
        if final_attempt:
            notification.status = NotificationStatus.FAILED
            Channel.objects.filter(pk=channel.pk, failing_since__isnull=True).update(failing_since=now)
            Channel.objects.filter(pk=channel.pk).update(last_error=detail)
    notification.save(update_fields=["attempts", "status", "sent_at", "last_error"])
    return ok


def _dispatch(ids: list[int]) -> None:
    from .tasks import send_notification

    transaction.on_commit(lambda: [send_notification.delay(pk) for pk in ids])


# --- acknowledgements and silences ---


def alert_ack(*, alert: Alert, actor, comment: str = "") -> Alert:
    """Acknowledge: no further notifications for this alert (it stays listed as firing)."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = actor if getattr(actor, "is_authenticated", False) else None
        alert.ack_comment = comment
        alert.save(update_fields=["acknowledged_at", "acknowledged_by", "ack_comment"])
        audit_record(actor=actor, action="alert.ack", obj=alert, reason=comment)
        _broadcast_changes()
    return alert


def silence_create(*, actor, matchers: dict[str, str], starts_at: dt.datetime | None = None,
                   ends_at: dt.datetime, comment: str) -> Silence:
    silence = Silence(matchers=matchers, starts_at=starts_at or timezone.now(), ends_at=ends_at,
                      comment=comment, author=actor if getattr(actor, "is_authenticated", False) else None)
    silence.full_clean()
    silence.save()
    audit_record(actor=actor, action="silence.create", obj=silence,
                 after={"matchers": matchers, "ends_at": ends_at.isoformat(), "comment": comment})
    return silence


def silence_expire(*, silence: Silence, actor) -> Silence:
    now = timezone.now()
    if silence.ends_at > now:
        silence.ends_at = max(now, silence.starts_at + dt.timedelta(microseconds=1))
        silence.save(update_fields=["ends_at"])
        audit_record(actor=actor, action="silence.expire", obj=silence)
    return silence


# --- evaluation and notification planning ---


def _silenced(alert: Alert, silences: list[Silence]) -> bool:
    if not silences:
        return False
    labels = alert.labels()
    return any(s.matches(labels) for s in silences)


def _alerts_to_tell(known: Iterable[Alert]) -> list[Alert]:
    """What ``Alert.objects.to_tell()`` holds, reusing the round's own alert objects: only the ids
    come from PostgreSQL, full rows only for the others (e.g. a silence ended). Loading thousands of
    rows again costs ~0.2 s when much fires at once."""
    ids = list(Alert.objects.to_tell().order_by("pk").values_list("pk", flat=True))
    by_id = {a.pk: a for a in known if a.pk is not None}
    missing = [pk for pk in ids if pk not in by_id]
    if missing:
        by_id.update(Alert.objects.in_bulk(missing))
    return [by_id[pk] for pk in ids]


def notifications_plan(*, now: dt.datetime, known: Iterable[Alert] = ()) -> list[int]:
    """Group what must be told per rule and kind, one Notification per channel; mark the alerts told.

    Firing alerts not yet notified (and not acknowledged or silenced) and resolved alerts
    whose firing was notified get one message each per rule; silenced alerts wait (they are
    told if still firing when the silence ends), acknowledged ones are never told again.
    One query finds them all (``Alert.objects.to_tell()``, a partial index), one UPDATE per
    kind marks them; one INSERT for the messages and one for their alert lists. ``known``: alert
    objects already in memory (the round's fired and resolved ones), not loaded again.
    """
    silences = list(Silence.objects.filter(starts_at__lte=now, ends_at__gt=now))
    alerts = _alerts_to_tell(known)
    if not alerts:
        return []
    routes = Prefetch("channels", queryset=Channel.objects.filter(enabled=True), to_attr="routes")
    rules = Rule.objects.prefetch_related(routes).in_bulk({a.rule_id for a in alerts})
    groups: dict[tuple[str, int], list[Alert]] = defaultdict(list)
    for alert in alerts:
        alert.rule = rules[alert.rule_id]
        if not _silenced(alert, silences):
            kind = NotificationKind.FIRING if alert.status == AlertStatus.FIRING else NotificationKind.RESOLVED
            groups[(kind, alert.rule_id)].append(alert)
    for kind, stamp in ((NotificationKind.FIRING, "notified_at"), (NotificationKind.RESOLVED, "resolve_notified_at")):
        told = [a.pk for (k, _), group in groups.items() if k == kind for a in group]
        if told:  # one array parameter: an IN list of thousands of ids costs more to parse than to run
            with connection.cursor() as cursor:
                cursor.execute(f"UPDATE {Alert._meta.db_table} SET {stamp} = %s WHERE id = ANY(%s)", [now, told])
    messages = []  # (channel id, rule id, kind, payload JSON) and the alerts each lists
    for (kind, rule_id), group in groups.items():
        rule = rules[rule_id]
        if rule.routes:
            payload = json.dumps(message_payload(kind=kind, rule_name=rule.name, alerts=group))
            messages += [((channel.pk, rule_id, kind, payload), group) for channel in rule.routes]
    created = _insert_notifications([m for m, _ in messages], now)
    pairs = [(pk, a.pk) for pk, (_, group) in zip(created, messages, strict=True) for a in group]
    if pairs:  # the alert lists: one INSERT of two id arrays (bulk_create prepares each value: ~0.2 s)
        through = Notification.alerts.through._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"INSERT INTO {through} (notification_id, alert_id) SELECT * FROM unnest(%s::bigint[], "
                           "%s::bigint[])", [list(c) for c in zip(*pairs, strict=True)])
    return created


def _insert_notifications(rows: list[tuple[int, int, str, str]], now: dt.datetime) -> list[int]:
    """Pending notifications in one multi-row INSERT; their ids in the order of ``rows``. Not
    bulk_create: it sends the payloads as one text[] literal, whose escaping alone costs ~1 s
    when thousands of alerts fire together (megabytes of JSON)."""
    if not rows:
        return []
    values = ", ".join(["(%s, %s, %s, %s::jsonb, %s, 0, '', %s)"] * len(rows))
    params = [value for row in rows for value in (*row, NotificationStatus.PENDING, now)]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {Notification._meta.db_table} (channel_id, rule_id, kind, payload, status, "
                       f"attempts, last_error, created_at) VALUES {values} RETURNING id, channel_id, rule_id, kind",
                       params)
        ids = {(channel, rule, kind): pk for pk, channel, rule, kind in cursor.fetchall()}
    return [ids[(channel, rule, kind)] for channel, rule, kind, _ in rows]


def evaluation_run(*, now: dt.datetime | None = None) -> RoundResult:
    """The beat task's body: evaluate every rule, then queue the notifications it calls for."""
    with gc_paused():
        result = evaluate_round(now=now)
        with transaction.atomic():
            ids = notifications_plan(now=result.evaluated_at, known=result.fired + result.resolved)
            _dispatch(ids)
    _broadcast_changes(changed=bool(result.fired or result.resolved))
    return result


def _broadcast_changes(*, changed: bool = True) -> None:
    """Refresh the navigation badge's count (cache) and, when something changed, tell live pages."""
    from .selectors import firing_counts

    def publish() -> None:
        counts = firing_counts()
        cache.set(BADGE_CACHE_KEY, counts["firing"], BADGE_TTL)
        if changed:
            broadcast("alerts", "changed", counts)

    transaction.on_commit(publish)
