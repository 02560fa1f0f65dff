"""Writes about sending IPs: status changes (one audit entry per IP), always through here.

Views, the API, admin actions, the DNSBL auto-pause and the warmup tasks all call these
functions, so what an operator or the system decides is validated and audited the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from apps.core.audit import audit_record, snapshot

from .choices import IpStatus
from .models import SendingIP


def ip_set_status(
    *, ip: SendingIP, status: str, actor: Any, reason: str = "", remote_addr: str | None = None
) -> bool:
    """Give one IP a new status; audited with its reason. Returns False when it already had it."""
    if status not in IpStatus.values:
        raise ValueError(f"status: unknown IP status {status!r}")
    if ip.status == status:
        return False
    before = snapshot(ip, ["status"])
    ip.status = status
    ip.full_clean()
    ip.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor, action=f"ip.{status}", obj=ip, before=before, after={"status": status},
        reason=reason, remote_addr=remote_addr,
    )
    return True


def ips_set_status(
    *, ips: Iterable[SendingIP], status: str, actor: Any, reason: str = "", remote_addr: str | None = None
) -> int:
    """The same status for many IPs in one transaction; returns how many changed."""
    with transaction.atomic():
        return sum(
            ip_set_status(ip=ip, status=status, actor=actor, reason=reason, remote_addr=remote_addr) for ip in ips
        )


def ip_activate(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.ACTIVE, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_pause(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.PAUSED, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_quarantine(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.QUARANTINED, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_retire(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.RETIRED, actor=actor, reason=reason, remote_addr=remote_addr)
