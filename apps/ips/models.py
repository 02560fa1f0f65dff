"""Sending IP addresses: where they live, which pool, their state and warmup."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .choices import IpStatus, PtrStatus


class WarmupSchedule(models.Model):
    """A warmup curve: the daily limit of each sending day (day 1 first); past the last day the IP is warm."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    limits = ArrayField(
        models.PositiveIntegerField(validators=[MinValueValidator(1)]),
        help_text="Daily limit of each sending day, comma-separated: day 1 first.",
    )
    is_default = models.BooleanField(default=False, help_text="Offered first when a warmup starts.")

    class Meta:
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def days(self) -> int:
        return len(self.limits)

    def limit_for(self, day: int) -> int | None:
        """The limit of sending day ``day`` (1-based); None once past the last day (warm)."""
        return self.limits[day - 1] if 1 <= day <= len(self.limits) else None


class SendingIP(models.Model):
    """One sending address: the node it is routed to, its pool, its status and warmup state."""

    address = models.GenericIPAddressField(unique=True)
    node = models.ForeignKey("nodes.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="ips")
    pool = models.ForeignKey("pools.IpPool", null=True, blank=True, on_delete=models.SET_NULL, related_name="ips")
    status = models.CharField(max_length=16, choices=IpStatus.choices, default=IpStatus.ACTIVE, db_index=True)
    weight = models.PositiveSmallIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Share of its pool's traffic relative to the other members (1–1000).",
    )
    subnet_label = models.CharField(max_length=64, blank=True, help_text="Site, rack or subnet name.")
    ptr = models.CharField("PTR", max_length=255, blank=True, help_text="Last known reverse-DNS name.")
    ptr_status = models.CharField(
        "PTR status", max_length=16, choices=PtrStatus.choices, default=PtrStatus.UNCHECKED, db_index=True,
        help_text="ok: the PTR name resolves back to this address (forward-confirmed).",
    )
    ptr_detail = models.CharField("PTR detail", max_length=255, blank=True,
                                  help_text="Why a check did not confirm the PTR (mismatch, missing, error).")
    ptr_checked_at = models.DateTimeField("PTR checked at", null=True, blank=True)
    warmup_schedule = models.ForeignKey(
        WarmupSchedule, null=True, blank=True, on_delete=models.PROTECT, related_name="ips",
        help_text="Empty: not warming up.",
    )
    warmup_started_on = models.DateField(null=True, blank=True)
    warmup_checked_on = models.DateField(
        null=True, blank=True, help_text="Last UTC day the daily warmup task judged (so a rerun is a no-op)."
    )
    warmup_day = models.PositiveIntegerField(null=True, blank=True)
    daily_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Empty means unlimited.")
    reputation_score = models.FloatField(null=True, blank=True, help_text="0 (bad) to 100 (good).")
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["address"]
        verbose_name = "sending IP"

    def __str__(self) -> str:
        return self.address
