from __future__ import annotations

from django.db import models

from .choices import MailboxStatus


def sees_all_mailboxes(user) -> bool:
    """Admins (superusers and the Admin role) see every mailbox; everyone else their own."""
    from apps.core.roles import ADMIN

    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_warmup_admin", None)
    if cached is None:
        cached = user._warmup_admin = user.groups.filter(name=ADMIN).exists()
    return cached


class MailboxQuerySet(models.QuerySet):
    def for_user(self, user):
        return self if sees_all_mailboxes(user) else self.filter(owner=user)

    def sending(self):
        """Mailboxes the engine sends from: enabled, not paused (failing ones keep trying: a success
        makes them active again), and their sending IP (if any) in service."""
        from apps.ips.choices import IpStatus

        return self.receiving().filter(
            models.Q(sending_ip__isnull=True) | models.Q(sending_ip__status=IpStatus.ACTIVE)
        )

    def receiving(self):
        """Mailboxes other mailboxes may write to: enabled and not paused."""
        return self.filter(enabled=True).exclude(status=MailboxStatus.PAUSED)
