"""DNSBL zones, monitored domains, the current state of every (target, zone) and its history."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .choices import Outcome, ZoneHealth, ZoneKind
from .managers import DnsblStateQuerySet, DnsblZoneQuerySet

RFC5782_CANARIES = {ZoneKind.IP: ("127.0.0.2", "127.0.0.1"), ZoneKind.DOMAIN: ("test", "invalid")}


class DnsblZone(models.Model):
    """One blocklist: where to ask, what its answers mean, how much a listing weighs, whether it pauses."""

    name = models.CharField(max_length=253, unique=True, help_text="e.g. zen.spamhaus.org")
    label = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=8, choices=ZoneKind.choices, default=ZoneKind.IP)
    weight = models.FloatField(
        default=10, validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Reputation points a listing costs (score = 100 - sum of weights, floor 0).",
    )
    may_pause = models.BooleanField(
        default=False, help_text="A listing here (2 checks in a row) pauses the IP. Off for informational lists."
    )
    codes = models.JSONField(
        default=dict, blank=True, help_text='Meaning of each return code, e.g. {"127.0.0.2": "SBL"}.'
    )
    enabled = models.BooleanField(default=True)
    max_qps = models.PositiveIntegerField(
        null=True, blank=True, help_text="Queries per second, across all workers. Empty: MAILMON_DNSBL_ZONE_QPS."
    )
    dqs_zone = models.CharField(
        "DQS zone", max_length=253, blank=True, help_text="Spamhaus Data Query Service zone, e.g. zen.dq.spamhaus.net"
    )
    dqs_key = models.CharField(
        "DQS key", max_length=64, blank=True, help_text="With a key, queries go to <key>.<DQS zone>."
    )
    canary_listed = models.CharField(max_length=253, blank=True, help_text="Must be listed. Empty: RFC 5782 default.")
    canary_clean = models.CharField(max_length=253, blank=True, help_text="Must not be listed. Empty: RFC 5782.")
    health = models.CharField(max_length=10, choices=ZoneHealth.choices, default=ZoneHealth.UNKNOWN)
    health_detail = models.CharField(max_length=255, blank=True)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    error_runs = models.PositiveIntegerField(default=0, help_text="Runs in a row where most answers were errors.")
    last_error = models.CharField(max_length=255, blank=True)

    objects = DnsblZoneQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = "DNSBL zone"

    def __str__(self) -> str:
        return self.label or self.name

    def clean(self) -> None:
        for address, meaning in (self.codes or {}).items():
            if not isinstance(meaning, str) or not address.startswith("127."):
                raise ValidationError({"codes": f"codes: {address!r} must be a 127.x.y.z address with a text meaning"})
        if self.dqs_key and not self.dqs_zone:
            raise ValidationError({"dqs_zone": "dqs_zone: a DQS key needs the DQS zone to send it to"})

    @property
    def query_zone(self) -> str:
        """Where queries go: the DQS key's zone when a key is set, else the public name."""
        return f"{self.dqs_key}.{self.dqs_zone}" if self.dqs_key and self.dqs_zone else self.name

    @property
    def canaries(self) -> tuple[str, str]:
        listed, clean = RFC5782_CANARIES[ZoneKind(self.kind)]
        return self.canary_listed or listed, self.canary_clean or clean

    def meaning(self, code: str) -> str:
        return (self.codes or {}).get(code, "")


class DnsblDomain(models.Model):
    """A sending domain checked against the domain lists (e.g. Spamhaus DBL)."""

    name = models.CharField(max_length=253, unique=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "monitored domain"

    def __str__(self) -> str:
        return self.name


class DnsblState(models.Model):
    """The current answer for one target (an IP or a domain) on one zone, with its streaks."""

    ip = models.ForeignKey("ips.SendingIP", null=True, blank=True, on_delete=models.CASCADE, related_name="dnsbl")
    domain = models.ForeignKey(DnsblDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="states")
    zone = models.ForeignKey(DnsblZone, on_delete=models.CASCADE, related_name="states")
    state = models.CharField(max_length=8, choices=Outcome.choices)
    code = models.CharField(max_length=15, blank=True)
    reason = models.TextField(blank=True)
    error = models.CharField(max_length=255, blank=True)
    listed_since = models.DateTimeField(null=True, blank=True)
    delisted_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField()
    listed_streak = models.PositiveIntegerField(default=0)
    clean_streak = models.PositiveIntegerField(default=0)
    error_streak = models.PositiveIntegerField(default=0)

    objects = DnsblStateQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ip", "zone"], name="dnsbl_state_ip_zone"),
            models.UniqueConstraint(fields=["domain", "zone"], name="dnsbl_state_domain_zone"),
            models.CheckConstraint(
                condition=models.Q(ip__isnull=False, domain__isnull=True)
                | models.Q(ip__isnull=True, domain__isnull=False),
                name="dnsbl_state_one_target",
            ),
        ]
        indexes = [models.Index(fields=["state", "zone"])]

    def __str__(self) -> str:
        return f"{self.ip or self.domain} on {self.zone}: {self.state}"

    @property
    def meaning(self) -> str:
        return self.zone.meaning(self.code)


class DnsblChange(models.Model):
    """Every change of state (listed, clean, error; or another listing code) per target and zone."""

    time = models.DateTimeField(db_index=True)
    ip = models.ForeignKey("ips.SendingIP", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    domain = models.ForeignKey(DnsblDomain, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    zone = models.ForeignKey(DnsblZone, on_delete=models.CASCADE, related_name="changes")
    state = models.CharField(max_length=8, choices=Outcome.choices)
    previous = models.CharField(max_length=8, blank=True)
    code = models.CharField(max_length=15, blank=True)
    reason = models.TextField(blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["ip", "time"]), models.Index(fields=["domain", "time"])]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M} {self.ip or self.domain} {self.zone}: {self.previous or '-'} → {self.state}"


class DnsblAutoPause(models.Model):
    """An IP the checker paused: kept so it resumes only IPs it paused itself."""

    ip = models.ForeignKey("ips.SendingIP", on_delete=models.CASCADE, related_name="dnsbl_pauses")
    zone = models.ForeignKey(DnsblZone, on_delete=models.CASCADE, related_name="+")
    code = models.CharField(max_length=15)
    paused_at = models.DateTimeField()
    resumed_at = models.DateTimeField(null=True, blank=True)
    resume_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-paused_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ip"], condition=models.Q(resumed_at__isnull=True), name="dnsbl_one_open_pause"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ip} paused for {self.zone} {self.code}"
