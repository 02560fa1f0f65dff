from django.db import models


class ZoneKind(models.TextChoices):
    IP = "ip", "IP list"
    DOMAIN = "domain", "Domain list"


class Outcome(models.TextChoices):
    """What one (target, zone) check said. An error is never a listing."""

    LISTED = "listed", "Listed"
    CLEAN = "clean", "Clean"
    ERROR = "error", "Error"


class ZoneHealth(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    HEALTHY = "healthy", "Healthy"
    UNHEALTHY = "unhealthy", "Failing its canary"
