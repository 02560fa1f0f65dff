from django.db import models


class PoolType(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"
    NOTIFICATION = "notification", "Notification"
    GENERAL = "general", "General"
