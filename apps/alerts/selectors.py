"""Reads of the alerts module: lists for pages and API, the navigation badge, /metrics."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from .choices import AlertStatus
from .models import Alert, Channel, Notification, Rule, Silence


def alert_list(*, state: str | None = None, severity: str | None = None, rule: int | None = None,
               subject: str | None = None) -> QuerySet[Alert]:
    """Active first, then the most recent: filter by state, severity, rule, subject (contains)."""
    queryset = Alert.objects.select_related("rule", "acknowledged_by")
    if state:
        queryset = queryset.filter(status=state)
    if severity:
        queryset = queryset.filter(severity=severity)
    if rule:
        queryset = queryset.filter(rule_id=rule)
    if subject:
        queryset = queryset.filter(subject__icontains=subject)
    return queryset.order_by("-fired_at", "-pending_since", "-id")


def firing_counts() -> dict[str, int]:
    counts = Alert.objects.firing().aggregate(
        firing=Count("id"),
        critical=Count("id", filter=Q(severity="critical")),
        unacknowledged=Count("id", filter=Q(acknowledged_at__isnull=True)),
    )
    return {k: v or 0 for k, v in counts.items()}


def firing_for_metrics() -> list[tuple[str, str, str]]:
    return list(Alert.objects.firing().values_list("rule__name", "subject", "severity"))


def rule_list() -> QuerySet[Rule]:
    return Rule.objects.order_by("name").prefetch_related("channels").annotate(
        firing=Count("alerts", filter=Q(alerts__status=AlertStatus.FIRING))
    )


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.all()


def silence_list() -> QuerySet[Silence]:
    return Silence.objects.select_related("author")


def recent_notifications(limit: int = 50) -> QuerySet[Notification]:
    return Notification.objects.select_related("channel", "rule")[:limit]
