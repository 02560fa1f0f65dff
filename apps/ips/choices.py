from django.db import models


class IpStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    QUARANTINED = "quarantined", "Quarantined"
    RETIRED = "retired", "Retired"
