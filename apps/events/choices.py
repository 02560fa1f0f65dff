from __future__ import annotations

from django.db import models

from .wire import EVENT_TYPES

# Built from the wire format's one list (apps/events/wire.py): QUEUED = "queued", label "Queued", ...
EventType = models.TextChoices("EventType", [(name.upper(), name) for name in EVENT_TYPES])


class BounceCategory(models.TextChoices):
    INVALID_RECIPIENT = "invalid_recipient", "Invalid recipient"
    MAILBOX_FULL = "mailbox_full", "Mailbox full"
    SPAM_BLOCK = "spam_block", "Spam / reputation block"
    POLICY = "policy", "Policy / authentication failure (SPF, DKIM, DMARC)"
    RATE_LIMITED = "rate_limited", "Rate limited / throttled"
    GREYLISTED = "greylisted", "Greylisted (retry expected)"
    DNS_FAILURE = "dns_failure", "DNS failure"
    CONNECTION = "connection", "Connection / timeout"
    CONTENT = "content", "Content rejected"
    OTHER = "other", "Other"
