"""Mail servers in the fleet and their resource metrics."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .choices import NodeRole, NodeStatus
from .managers import NodeQuerySet


class Node(models.Model):
    """One mail server: what it runs and whether it is reporting."""

    hostname = models.CharField(max_length=255, unique=True)
    role = models.CharField(max_length=32, choices=NodeRole.choices, default=NodeRole.OTHER, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    subnet_label = models.CharField(max_length=64, blank=True, help_text="Site, rack or subnet name.")
    status = models.CharField(max_length=16, choices=NodeStatus.choices, default=NodeStatus.UNKNOWN, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    approved = models.BooleanField(
        default=True,
        db_index=True,
        help_text="Unticked: registered by an agent while approval is required (MAILMON_NODE_APPROVAL_REQUIRED "
        "or the key's setting); its reports are kept but it is not shown as part of the fleet until approved.",
    )
    registered_by = models.ForeignKey(
        "core.AgentAPIKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registered_nodes",
        help_text="The agent key whose report registered this node (counts against the key's node limit).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def get_absolute_url(self) -> str:
        return reverse("nodes-detail", args=[self.hostname])

    def silent_for(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        if self.last_seen is None:
            return None
        return (now or timezone.now()) - self.last_seen

    def expected_status(self, *, silent_after: dt.timedelta, now: dt.datetime | None = None) -> str:
        """The status the node's last report implies (maintenance is set by hand and kept)."""
        if self.status == NodeStatus.MAINTENANCE:
            return self.status
        silent = self.silent_for(now)
        if silent is None:
            return NodeStatus.UNKNOWN
        if silent > silent_after:
            return NodeStatus.OFFLINE
        return self.status if self.status == NodeStatus.DEGRADED else NodeStatus.ONLINE


class NodeMetric(models.Model):
    """One agent report (every 15 s): a time-series row, partitioned by day."""

    time = models.DateTimeField()
    node = models.ForeignKey(Node, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    cpu_percent = models.FloatField(null=True, blank=True)
    memory_percent = models.FloatField(null=True, blank=True)
    swap_percent = models.FloatField(null=True, blank=True)
    disks = models.JSONField(default=dict, blank=True, help_text="{mount: {used_percent, free_bytes}}")
    net_rx_bytes = models.BigIntegerField(null=True, blank=True)
    net_tx_bytes = models.BigIntegerField(null=True, blank=True)
    load1 = models.FloatField(null=True, blank=True)
    load5 = models.FloatField(null=True, blank=True)
    load15 = models.FloatField(null=True, blank=True)
    queue_size = models.IntegerField(null=True, blank=True)
    services = models.JSONField(default=dict, blank=True, help_text="{service: true if up}")

    class Meta:
        indexes = [
            models.Index(fields=["node", "-time"], name="nodemetric_node_time"),
            models.Index(fields=["time"], name="nodemetric_time"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} @ {self.time:%Y-%m-%d %H:%M:%S}"


def _fraction():
    return [MinValueValidator(0.001), MaxValueValidator(1)]


def _percent():
    return [MinValueValidator(1), MaxValueValidator(100)]


class HealthThresholds(models.Model):
    """Overrides of the ``MAILMON_HEALTH_*`` settings, edited in the admin (one row); an empty
    field keeps the setting. Read by ``apps/nodes/attention.py:thresholds``."""

    cpu_percent = models.FloatField(null=True, blank=True, validators=_percent())
    memory_percent = models.FloatField(null=True, blank=True, validators=_percent())
    disk_percent = models.FloatField(null=True, blank=True, validators=_percent())
    queue_size = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    queue_growth = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.01)],
                                     help_text="Fraction larger than one window ago that counts as growing.")
    window_minutes = models.PositiveIntegerField(null=True, blank=True,
                                                 validators=[MinValueValidator(5), MaxValueValidator(1440)])
    min_sent = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)])
    deferral_warn = models.FloatField(null=True, blank=True, validators=_fraction(), help_text="Fraction of sent.")
    deferral_critical = models.FloatField(null=True, blank=True, validators=_fraction())
    bounce_warn = models.FloatField(null=True, blank=True, validators=_fraction())
    bounce_critical = models.FloatField(null=True, blank=True, validators=_fraction())
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "health thresholds"

    def __str__(self) -> str:
        return "Health thresholds"

    def overrides(self) -> dict[str, float | int]:
        names = [f.name for f in self._meta.fields if f.name not in ("id", "updated_at")]
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def clean(self) -> None:
        for kind in ("deferral", "bounce"):
            warn, critical = getattr(self, f"{kind}_warn"), getattr(self, f"{kind}_critical")
            if warn is not None and critical is not None and critical < warn:
                raise ValidationError({f"{kind}_critical": f"{kind}_critical: must be at least {kind}_warn."})
