"""Alert rules, their per-subject states, notification channels, attempts and silences."""

from __future__ import annotations

import datetime as dt
import fnmatch

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from .choices import (
    SCOPE_KINDS,
    AlertStatus,
    ChannelKind,
    Condition,
    GroupBy,
    NotificationKind,
    NotificationStatus,
    Severity,
    Source,
)
from .secret import SecretField


def validate_scope(value: str) -> None:
    if value == "fleet":
        return
    kind, sep, name = value.partition(":")
    if not sep or kind not in SCOPE_KINDS or not name.strip():
        raise ValidationError(
            f"{value!r} is not a scope: use 'fleet' or one of "
            + ", ".join(f"'{k}:<{k}>'" for k in SCOPE_KINDS)
        )


class Channel(models.Model):
    """Where notifications go: a webhook, an email address list, Slack or Telegram."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    url = models.URLField(max_length=500, blank=True, help_text="Webhook / Slack URL; Telegram API base URL.")
    to = models.CharField(
        max_length=500, blank=True, help_text="Email: comma-separated addresses. Telegram: the chat id."
    )
    secret = SecretField(
        blank=True, help_text="Webhook HMAC key, SMTP password or Telegram bot token. Never shown after save."
    )
    enabled = models.BooleanField(default=True)
    alertmanager = models.BooleanField(
        default=False, help_text="Webhook only: send Prometheus Alertmanager's webhook payload shape."
    )
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK) and not self.url:
            raise ValidationError({"url": f"A {self.kind} channel needs a url."})
        if self.kind == ChannelKind.EMAIL:
            addresses = [a.strip() for a in self.to.split(",") if a.strip()]
            if not addresses:
                raise ValidationError({"to": "An email channel needs at least one address."})
            from django.core.validators import validate_email

            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError as exc:
                    raise ValidationError({"to": f"{address!r} is not an email address."}) from exc
        if self.kind == ChannelKind.TELEGRAM and not (self.to and self.secret):
            raise ValidationError({"to": "A Telegram channel needs the chat id (to) and the bot token (secret)."})

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.to.split(",") if a.strip()]


class Rule(models.Model):
    """When to alert: a source compared with a threshold for a duration, over a scope."""

    name = models.CharField(max_length=150, unique=True)
    source = models.CharField(max_length=32, choices=Source.choices)
    condition = models.CharField(max_length=1, choices=Condition.choices, default=Condition.ABOVE)
    threshold = models.FloatField()
    for_seconds = models.PositiveIntegerField(default=0, help_text="How long the condition must hold.")
    window_seconds = models.PositiveIntegerField(
        default=900, help_text="Email and ingest sources: the window rates are computed over."
    )
    min_volume = models.PositiveIntegerField(
        default=0, help_text="Email sources: subjects with fewer messages in the window are not judged."
    )
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    scope = models.CharField(max_length=300, default="fleet", validators=[validate_scope])
    group_by = models.CharField(max_length=8, choices=GroupBy.choices, blank=True, default=GroupBy.DEFAULT)
    labels = models.JSONField(default=dict, blank=True)
    hysteresis = models.FloatField(
        default=0, help_text="A firing alert clears only once the value is this far back past the threshold."
    )
    resolve_seconds = models.PositiveIntegerField(
        default=60, help_text="Flap damping: how long the condition must stay clear before the alert resolves."
    )
    enabled = models.BooleanField(default=True)
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()
        ):
            raise ValidationError({"labels": "Labels are an object of strings."})
        if self.window_seconds < 60:
            raise ValidationError({"window_seconds": "The window is at least 60 seconds."})

    def holds(self, value: float) -> bool:
        return value > self.threshold if self.condition == Condition.ABOVE else value < self.threshold

    def holding(self, samples) -> set[str]:
        """The subjects of ``samples`` past the threshold: :meth:`holds` in one pass, for the
        thousands of samples a rule sees per round."""
        threshold = self.threshold
        if self.condition == Condition.ABOVE:
            return {s.subject for s in samples if s.value > threshold}
        return {s.subject for s in samples if s.value < threshold}

    def clears(self, value: float) -> bool:
        """Past the threshold by the hysteresis margin, back on the good side."""
        if self.condition == Condition.ABOVE:
            return value <= self.threshold - self.hysteresis
        return value >= self.threshold + self.hysteresis

    def in_scope(self, attrs: dict[str, str]) -> bool:
        if self.scope == "fleet":
            return True
        kind, _, name = self.scope.partition(":")
        return attrs.get(kind) == name


TO_TELL = Q(acknowledged_at__isnull=True) & (
    Q(status=AlertStatus.FIRING, notified_at__isnull=True)
    | Q(status=AlertStatus.RESOLVED, notified_at__isnull=False, resolve_notified_at__isnull=True)
)


class AlertQuerySet(models.QuerySet):
    def active(self) -> AlertQuerySet:
        return self.filter(status__in=[AlertStatus.PENDING, AlertStatus.FIRING])

    def firing(self) -> AlertQuerySet:
        return self.filter(status=AlertStatus.FIRING)

    def to_tell(self) -> AlertQuerySet:
        """Notifications owed: firing and not yet told, or resolved after their firing was told;
        never acknowledged ones (the partial index ``alerts_alert_to_tell`` holds exactly these)."""
        return self.filter(TO_TELL)


class Alert(models.Model):
    """The state of one rule for one subject: pending → firing → resolved (one row per episode).

    A subject back to normal while pending leaves no row (it never fired); resolved rows are
    the history.
    """

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="alerts")
    subject = models.CharField(max_length=300)
    status = models.CharField(max_length=8, choices=AlertStatus.choices, default=AlertStatus.PENDING)
    value = models.FloatField(null=True, blank=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    pending_since = models.DateTimeField()
    fired_at = models.DateTimeField(null=True, blank=True)
    clear_since = models.DateTimeField(null=True, blank=True, help_text="Firing, but the condition cleared at.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True, help_text="When the firing notice was sent.")
    resolve_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ack_comment = models.CharField(max_length=500, blank=True)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-pending_since"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=Q(status__in=["pending", "firing"]),
                name="alerts_alert_one_active_per_subject",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-pending_since"], name="alerts_alert_status"),
            # Few rows (what the next round must tell), however long the resolved history grows.
            models.Index(fields=["rule"], condition=TO_TELL, name="alerts_alert_to_tell"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.name} · {self.subject}"

    def labels(self) -> dict[str, str]:
        rule = self.rule
        return {
            **rule.labels, "alertname": rule.name, "rule": rule.name, "subject": self.subject,
            "severity": self.severity, "source": rule.source,
        }


class Silence(models.Model):
    """Stops notifications for matching alerts in a time window; the alerts stay visible."""

    matchers = models.JSONField(
        help_text='{"label": "value"}; all must match; shell-style wildcards (*) allowed. '
        "Labels: rule, subject, severity, source and the rule's own labels."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    comment = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.matchers.items())

    def clean(self) -> None:
        if not isinstance(self.matchers, dict) or not self.matchers or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.matchers.items()
        ):
            raise ValidationError({"matchers": "At least one matcher: an object of non-empty strings."})
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The silence must end after it starts."})

    def active_at(self, when: dt.datetime) -> bool:
        return self.starts_at <= when < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(fnmatch.fnmatchcase(labels.get(k, ""), v) for k, v in self.matchers.items())


class Notification(models.Model):
    """One message to one channel: the alerts of one rule that fired (or resolved) together."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="notifications")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=8, choices=NotificationKind.choices)
    alerts = models.ManyToManyField(Alert, blank=True, related_name="notifications")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.channel}"


class NotificationAttempt(models.Model):
    """Every delivery attempt, successful or not."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["notification", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {'ok' if self.ok else 'failed'}"


__all__ = [
    "Alert", "AlertStatus", "Channel", "ChannelKind", "Notification", "NotificationAttempt",
    "NotificationKind", "NotificationStatus", "Rule", "Silence",
]
