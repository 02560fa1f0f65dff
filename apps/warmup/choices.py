from __future__ import annotations

from django.db import models


class SmtpSecurity(models.TextChoices):
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "TLS (implicit)"
    NONE = "none", "None (loopback only)"


class MailboxStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    FAILING = "failing", "Failing"


class SendOutcome(models.TextChoices):
    SENT = "sent", "Sent"
    DEFERRED = "deferred", "Deferred (4xx, retried)"
    FAILED = "failed", "Failed (5xx)"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    ERROR = "error", "Connection error"


class Placement(models.TextChoices):
    INBOX = "inbox", "Inbox"
    SPAM = "spam", "Spam"
