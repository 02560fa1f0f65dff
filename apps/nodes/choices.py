from django.db import models


class NodeRole(models.TextChoices):
    WILDDUCK = "wildduck", "WildDuck"
    HARAKA = "haraka", "Haraka"
    ZONEMTA = "zonemta-outbound", "ZoneMTA outbound"
    POSTFIX = "postfix", "Postfix"
    DOVECOT = "dovecot", "Dovecot"
    RSPAMD = "rspamd", "Rspamd"
    MONGODB = "mongodb", "MongoDB"
    REDIS = "redis", "Redis"
    OTHER = "other", "Other"


class NodeStatus(models.TextChoices):
    ONLINE = "online", "Online"
    DEGRADED = "degraded", "Degraded"
    OFFLINE = "offline", "Offline (silent)"
    MAINTENANCE = "maintenance", "Maintenance"
    UNKNOWN = "unknown", "Unknown"
