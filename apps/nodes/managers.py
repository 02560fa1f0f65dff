from __future__ import annotations

from django.db import models


class NodeQuerySet(models.QuerySet):
    def with_role(self, role: str):
        return self.filter(role=role)

    def silent_since(self, cutoff):
        return self.filter(models.Q(last_seen__lt=cutoff) | models.Q(last_seen__isnull=True))
