"""The alerting vocabulary: sources, conditions, severities, states, channel kinds."""

from __future__ import annotations

from django.db import models


class Source(models.TextChoices):
    NODE_CPU = "node.cpu", "Node CPU (%)"
    NODE_MEMORY_AVAILABLE = "node.memory_available", "Node memory available (%)"
    NODE_DISK_FREE = "node.disk_free", "Node disk free, fullest disk (%)"
    NODE_LOAD = "node.load", "Node load (1 min)"
    NODE_QUEUE = "node.queue", "Node mail queue (messages)"
    NODE_SERVICE_DOWN = "node.service_down", "Node services down (count)"
    NODE_OFFLINE = "node.offline", "Node offline (1 = silent)"
    EMAIL_BOUNCE_RATE = "email.bounce_rate", "Bounce rate (%)"
    EMAIL_DEFERRAL_RATE = "email.deferral_rate", "Deferral rate (%)"
    EMAIL_DELIVERY_P95 = "email.delivery_p95", "Delivery time p95 (s)"
    EMAIL_VOLUME_DROP = "email.volume_drop", "Volume drop vs same window last week (%)"
    DNSBL_LISTED = "dnsbl.listed", "Listed on pause-worthy DNSBL zones / auto-paused (count)"
    IP_WARMUP_HELD = "ip.warmup_held", "IP warmup held (1 = held)"
    INGEST_BACKLOG = "ingest.backlog", "Ingest backlog (events waiting)"
    INGEST_REJECTED = "ingest.rejected", "Ingest rejected events (since last evaluation)"
    PORTAL_API_P95 = "portal.api_p95", "Portal API latency p95 (s)"
    CHANNEL_FAILED = "alerts.channel_failed", "Notification channel failing (1 = failing)"


class Condition(models.TextChoices):
    ABOVE = ">", "above"
    BELOW = "<", "below"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class GroupBy(models.TextChoices):
    """The subject an email-statistics rule is evaluated per (other sources have one natural subject)."""

    DEFAULT = "", "Source default"
    FLEET = "fleet", "Whole fleet"
    NODE = "node", "Node"
    IP = "ip", "Sending IP"
    POOL = "pool", "IP pool"
    DOMAIN = "domain", "Recipient domain"


class AlertStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class ChannelKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (JSON)"
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack-compatible webhook"
    TELEGRAM = "telegram", "Telegram bot"


class NotificationKind(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"
    TEST = "test", "Test"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


SCOPE_KINDS = ("role", "node", "pool", "ip", "domain")
