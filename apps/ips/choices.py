from django.db import models


class IpStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    QUARANTINED = "quarantined", "Quarantined"
    RETIRED = "retired", "Retired"


class PtrStatus(models.TextChoices):
    """The last reverse-DNS check of an IP (``apps/ips/ptr.py``)."""

    UNCHECKED = "unchecked", "Not checked"
    OK = "ok", "Forward-confirmed"
    MISMATCH = "mismatch", "Mismatch"
    MISSING = "missing", "Missing"
    ERROR = "error", "Error"
