"""Sending IP addresses: where they live, which pool, their state and warmup."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .choices import IpStatus


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
    ptr = models.CharField("PTR", max_length=255, blank=True)
    warmup_started_on = models.DateField(null=True, blank=True)
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
