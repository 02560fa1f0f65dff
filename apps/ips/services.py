"""Writes about sending IPs: status changes (one audit entry per IP), always through here.

Views, the API, admin actions, the DNSBL auto-pause and the warmup tasks all call these
functions, so what an operator or the system decides is validated and audited the same way.
Every write also moves the version the MTAs' answer is cached under (``mta_version.py``),
so ``GET /api/v1/mta/pools`` shows it on the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.audit import audit_entry, audit_record, snapshot
from apps.core.models import AuditLog

from .choices import IpStatus
from .models import SendingIP
from .mta_version import mta_changed

IpSelection = Iterable[SendingIP] | QuerySet


def ip_set_status(
    *, ip: SendingIP, status: str, actor: Any, reason: str = "", remote_addr: str | None = None
) -> bool:
    """Give one IP a new status; audited with its reason. Returns False when it already had it."""
    _check_status(status)
    if ip.status == status:
        return False
    before = snapshot(ip, ["status"])
    ip.status = status
    ip.full_clean()
    ip.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor, action=f"ip.{status}", obj=ip, before=before, after={"status": status},
        reason=reason, remote_addr=remote_addr,
    )  # fmt: skip
    mta_changed()
    return True


def _check_status(status: str) -> None:
    if status not in IpStatus.values:
        raise ValueError(f"status: unknown IP status {status!r}")


def selection_pks(ips: IpSelection) -> Any:
    """Primary keys of a selection: a subquery for a QuerySet (no rows through Python), else a list."""
    if isinstance(ips, QuerySet):
        return ips.values("pk")
    return [ip.pk for ip in ips]


def ips_set_status(
    *, ips: IpSelection, status: str, actor: Any, reason: str = "", remote_addr: str | None = None
) -> int:
    """The same status for many IPs: one UPDATE and one audit entry per IP that changed
    (bulk-inserted), in one transaction. Returns how many changed."""
    _check_status(status)
    with transaction.atomic():
        rows = list(
            SendingIP.objects.select_for_update().filter(pk__in=selection_pks(ips)).exclude(status=status)
            .values_list("pk", "address", "status")
        )  # fmt: skip
        SendingIP.objects.filter(pk__in=[pk for pk, *_ in rows]).update(status=status, updated_at=timezone.now())
        AuditLog.objects.bulk_create(
            audit_entry(
                actor=actor, action=f"ip.{status}", object_type="ips.sendingip", object_id=str(pk),
                object_repr=address, before={"status": old}, after={"status": status}, reason=reason,
                remote_addr=remote_addr,
            )  # fmt: skip
            for pk, address, old in rows
        )
        if rows:
            mta_changed()
    return len(rows)


def ip_activate(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.ACTIVE, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_pause(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.PAUSED, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_quarantine(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.QUARANTINED, actor=actor, reason=reason, remote_addr=remote_addr)


def ip_retire(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None) -> bool:
    return ip_set_status(ip=ip, status=IpStatus.RETIRED, actor=actor, reason=reason, remote_addr=remote_addr)


IP_EDITABLE = ("node", "weight", "daily_limit", "ptr")


def ip_update(*, ip: SendingIP, actor: Any, reason: str = "", remote_addr: str | None = None, **changes: Any) -> bool:
    """Change an IP's node, weight, daily limit or PTR; audited with before/after. False if nothing changed."""
    unknown = set(changes) - set(IP_EDITABLE)
    if unknown:
        raise ValueError(f"ip_update: cannot change {', '.join(sorted(unknown))}")
    changed = [field for field, value in changes.items() if getattr(ip, field) != value]
    if not changed:
        return False
    before = snapshot(ip, changed)
    for field in changed:
        setattr(ip, field, changes[field])
    ip.full_clean()
    ip.save(update_fields=[*changed, "updated_at"])
    audit_record(actor=actor, action="ip.change", obj=ip, before=before, after=snapshot(ip, changed),
                 reason=reason, remote_addr=remote_addr)  # fmt: skip
    mta_changed()
    return True
