"""Warmup mailboxes, their send log (a time series) and per-day counters."""

from __future__ import annotations

import datetime as dt
import ipaddress

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.fields import EncryptedTextField

from .choices import MailboxStatus, Placement, SendOutcome, SmtpSecurity
from .managers import MailboxQuerySet
from .planner import quota

MIN_DAILY_TARGET = 30
PORT_VALIDATORS = [MinValueValidator(1), MaxValueValidator(65535)]


def is_loopback_host(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def today() -> dt.date:
    return timezone.now().date()


class WarmupMailbox(models.Model):
    """One participating mailbox: how to send from it (and optionally read it) and how much.

    Today's quota is ``max(daily_target, min(ramp_ceiling, ramp_start + ramp_increase × days))``
    where days counts from ``started_on``: the target is the floor, the ramp may go above it.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="warmup_mailboxes")
    address = models.EmailField(unique=True)
    smtp_host = models.CharField(max_length=255)
    smtp_port = models.PositiveIntegerField(default=587, validators=PORT_VALIDATORS)
    smtp_security = models.CharField(max_length=8, choices=SmtpSecurity.choices, default=SmtpSecurity.STARTTLS)
    username = models.CharField(max_length=255, blank=True)
    password = EncryptedTextField(blank=True)
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(null=True, blank=True, validators=PORT_VALIDATORS)
    imap_security = models.CharField(max_length=8, choices=SmtpSecurity.choices, default=SmtpSecurity.TLS)
    imap_username = models.CharField(max_length=255, blank=True)
    imap_password = EncryptedTextField(blank=True)
    enabled = models.BooleanField(default=True)
    daily_target = models.PositiveIntegerField(
        default=MIN_DAILY_TARGET, validators=[MinValueValidator(MIN_DAILY_TARGET)]
    )
    ramp_start = models.PositiveIntegerField(default=MIN_DAILY_TARGET)
    ramp_increase = models.PositiveIntegerField(default=5)
    ramp_ceiling = models.PositiveIntegerField(default=80)
    started_on = models.DateField(default=today)
    provider = models.CharField(max_length=64, blank=True, help_text="Derived from the domain's MX hosts.")
    status = models.CharField(max_length=8, choices=MailboxStatus.choices, default=MailboxStatus.ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=255, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    imap_error = models.TextField(blank=True, help_text="Why the last IMAP engagement failed; empty when it worked.")
    imap_checked_at = models.DateTimeField(null=True, blank=True, help_text="The last IMAP engagement attempt.")
    sending_ip = models.ForeignKey(
        "ips.SendingIP", null=True, blank=True, on_delete=models.SET_NULL, related_name="warmup_mailboxes",
        help_text="The IP this mailbox sends through: warming stops while that IP is paused or quarantined.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MailboxQuerySet.as_manager()

    class Meta:
        ordering = ["address"]
        verbose_name = "warmup mailbox"
        verbose_name_plural = "warmup mailboxes"
        indexes = [models.Index(fields=["owner", "address"], name="warmup_mailbox_owner")]

    def __str__(self) -> str:
        return self.address

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1].lower()

    @property
    def sends_now(self) -> bool:
        """Whether the engine may send from it now: the row-level twin of ``objects.sending()``."""
        from apps.ips.choices import IpStatus

        ip_ok = self.sending_ip_id is None or self.sending_ip.status == IpStatus.ACTIVE
        return self.enabled and self.status != MailboxStatus.PAUSED and ip_ok

    def quota_for(self, day: dt.date) -> int:
        return quota(self.daily_target, self.ramp_start, self.ramp_increase, self.ramp_ceiling,
                     (day - self.started_on).days)

    def clean(self) -> None:
        errors = {}
        if self.smtp_security == SmtpSecurity.NONE and not is_loopback_host(self.smtp_host):
            errors["smtp_security"] = "'none' is only allowed for loopback hosts (127.0.0.1, ::1, localhost)."
        if self.imap_host and self.imap_security == SmtpSecurity.NONE and not is_loopback_host(self.imap_host):
            errors["imap_security"] = "'none' is only allowed for loopback hosts (127.0.0.1, ::1, localhost)."
        if self.imap_host and not self.imap_port:
            errors["imap_port"] = "required when imap_host is set."
        if errors:
            raise ValidationError(errors)


class WarmupSend(models.Model):
    """One SMTP attempt: a time-series row, partitioned by day (see apps/core/timeseries.py)."""

    time = models.DateTimeField()
    mailbox = models.ForeignKey(WarmupMailbox, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    owner_user_id = models.BigIntegerField()  # the mailbox owner at send time: per-user figures without a join
    recipient = models.CharField(max_length=254)
    recipient_provider = models.CharField(max_length=64, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    outcome = models.CharField(max_length=12, choices=SendOutcome.choices)
    smtp_code = models.SmallIntegerField(null=True, blank=True)
    smtp_response = models.TextField(blank=True)
    duration_ms = models.IntegerField(default=0)
    is_reply = models.BooleanField(default=False)
    attempt = models.SmallIntegerField(default=1)

    class Meta:
        indexes = [
            BrinIndex(fields=["time"], name="warmupsend_time_brin", autosummarize=True),
            models.Index(fields=["mailbox", "time"], name="warmupsend_mailbox_time"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.mailbox_id} → {self.recipient} @ {self.time:%Y-%m-%d %H:%M:%S}"


class WarmupDay(models.Model):
    """A mailbox's figures for one UTC day: planned/sent/failed as sender, placement as recipient."""

    mailbox = models.ForeignKey(WarmupMailbox, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    target = models.PositiveIntegerField(default=0)
    seq = models.PositiveIntegerField(default=0, help_text="Recipients picked (planned + repeated pairs skipped).")
    planned = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    inbox = models.PositiveIntegerField(default=0)
    spam = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailbox", "day"], name="warmupday_mailbox_day")]
        indexes = [models.Index(fields=["day"], name="warmupday_day")]

    def __str__(self) -> str:
        return f"{self.mailbox_id} {self.day}: {self.sent}/{self.target}"


class WarmupEngine(models.Model):
    """The engine switch and the last planning cycle (one row, id 1)."""

    running = models.BooleanField(default=True)
    changed_by = models.CharField(max_length=150, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_cycle_at = models.DateTimeField(null=True, blank=True)
    last_cycle_planned = models.PositiveIntegerField(default=0)
    last_cycle_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "warmup engine"

    def __str__(self) -> str:
        return "running" if self.running else "stopped"

    @classmethod
    def load(cls) -> WarmupEngine:
        return cls.objects.get_or_create(pk=1)[0]


__all__ = ["Placement", "WarmupDay", "WarmupEngine", "WarmupMailbox", "WarmupSend", "is_loopback_host"]
