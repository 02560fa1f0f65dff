from __future__ import annotations

from django.db import models

from .choices import Outcome


class DnsblZoneQuerySet(models.QuerySet):
    def enabled(self):
        return self.filter(enabled=True)


class DnsblStateQuerySet(models.QuerySet):
    def listed(self):
        return self.filter(state=Outcome.LISTED)

    def for_ips(self):
        return self.filter(ip__isnull=False)
