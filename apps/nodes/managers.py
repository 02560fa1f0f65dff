from __future__ import annotations

from django.db import models


class NodeQuerySet(models.QuerySet):
    def fleet(self):
        """Nodes shown as the fleet: everything but those waiting for an admin's approval."""
        return self.filter(approved=True)

    def pending_approval(self):
        return self.filter(approved=False)
