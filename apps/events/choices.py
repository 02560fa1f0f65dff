from django.db import models


class EventType(models.TextChoices):
    QUEUED = "queued", "Queued"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    DEFERRED = "deferred", "Deferred"
    REJECTED = "rejected", "Rejected"
    COMPLAINED = "complained", "Complained"


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
