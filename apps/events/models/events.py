"""Delivery events reported by the MTAs, and the rules that classify bounces."""

from __future__ import annotations

from django.contrib.postgres.indexes import BrinIndex, HashIndex
from django.db import models

from ..choices import BounceCategory, EventType


class EmailEvent(models.Model):
    """What happened to one message at one moment: a time-series row, partitioned by day.

    ``event_id`` is the sender's idempotency key: (event_id, time) is unique, so a
    resent batch stores nothing twice.
    """

    time = models.DateTimeField()
    event_id = models.CharField(max_length=128)
    type = models.CharField(max_length=16, choices=EventType.choices)
    node = models.ForeignKey("nodes.Node", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    sending_ip = models.GenericIPAddressField(null=True, blank=True)
    message_id = models.CharField(max_length=998, blank=True)
    sender = models.CharField(max_length=320, blank=True)
    sender_domain = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=320)
    recipient_domain = models.CharField(max_length=255)
    mx_host = models.CharField(max_length=255, blank=True)
    status_code = models.SmallIntegerField(null=True, blank=True)
    enhanced_status = models.CharField(max_length=16, blank=True)
    response = models.TextField(blank=True)
    delay_ms = models.IntegerField(null=True, blank=True)
    bounce_category = models.CharField(max_length=24, choices=BounceCategory.choices, blank=True)
    size = models.IntegerField(null=True, blank=True)
    account = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event_id", "time"], name="emailevent_event_id_time")]
        indexes = [
            # autosummarize: new blocks join the index as they fill, so "newest first" stays cheap.
            BrinIndex(fields=["time"], name="emailevent_time_brin", autosummarize=True),
            models.Index(fields=["node", "time"], name="emailevent_node_time"),
            models.Index(fields=["recipient_domain", "time"], name="emailevent_rdomain_time"),
            # Exact Message-ID lookups only: a hash index costs ingest ~15% less than a btree here.
            HashIndex(fields=["message_id"], name="emailevent_message_id"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.recipient} @ {self.time:%Y-%m-%d %H:%M:%S}"


class BounceRule(models.Model):
    """One classification rule: all non-empty patterns must match; lower priority wins."""

    name = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=24, choices=BounceCategory.choices)
    priority = models.IntegerField(default=100)
    status_code = models.CharField(max_length=64, blank=True, help_text="Regex on the SMTP code, e.g. ^5")
    enhanced_status = models.CharField(max_length=64, blank=True, help_text=r"Regex, e.g. ^5\.1\.1$")
    # TextField: shipped rules list many providers' wordings in one alternation (> 500 chars).
    response = models.TextField(blank=True, help_text="Case-insensitive regex on the text.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return f"{self.priority} {self.name} → {self.category}"
