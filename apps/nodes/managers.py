from __future__ import annotations

from django.db import models


class NodeQuerySet(models.QuerySet):
    def fleet(self):
        """Nodes shown as the fleet: everything but those waiting for an admin's approval."""
        return self.filter(approved=True)

    def pending_approval(self):
        return self.filter(approved=False)

    def with_role(self, role: str):
        return self.filter(role=role)

    def silent_since(self, cutoff):
        return self.filter(models.Q(last_seen__lt=cutoff) | models.Q(last_seen__isnull=True))
