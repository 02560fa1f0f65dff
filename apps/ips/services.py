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
from .ranges import parse_range

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


def ips_assign_pool(
    *, ips: IpSelection, pool: Any, actor: Any, reason: str = "", remote_addr: str | None = None
) -> int:
    """Move IPs into ``pool`` (an IpPool, or None: out of any pool): one UPDATE, one audit entry
    per IP that moved (bulk-inserted); returns how many moved."""
    target = pool.pk if pool else None
    with transaction.atomic():
        locked = SendingIP.objects.select_for_update(of=("self",)).filter(pk__in=selection_pks(ips))
        moving = locked.exclude(pool_id=target) if target else locked.exclude(pool__isnull=True)
        rows = list(moving.values_list("pk", "address", "pool__name"))
        SendingIP.objects.filter(pk__in=[pk for pk, *_ in rows]).update(pool_id=target, updated_at=timezone.now())
        after = {"pool": pool.name if pool else None}
        AuditLog.objects.bulk_create(
            audit_entry(
                actor=actor, action="ip.pool_change", object_type="ips.sendingip", object_id=str(pk),
                object_repr=address, before={"pool": old}, after=after, reason=reason, remote_addr=remote_addr,
            )  # fmt: skip
            for pk, address, old in rows
        )
        if rows:
            mta_changed()
    return len(rows)


BULK_ACTIONS: dict[str, str] = {
    "activate": IpStatus.ACTIVE,
    "pause": IpStatus.PAUSED,
    "quarantine": IpStatus.QUARANTINED,
    "retire": IpStatus.RETIRED,
    "assign_pool": "",
}


def ips_bulk_pending(*, ips: QuerySet, action: str, pool: Any = None) -> int:
    """How many of ``ips`` ``action`` would change: what the confirmation states."""
    if action == "assign_pool":
        return ips.exclude(pool_id=pool.pk).count() if pool else ips.exclude(pool__isnull=True).count()
    return ips.exclude(status=BULK_ACTIONS[action]).count()


def ips_bulk_apply(
    *, ips: QuerySet, action: str, pool: Any = None, actor: Any, reason: str = "", remote_addr: str | None = None
) -> dict[str, Any]:
    """Apply one bulk action (``BULK_ACTIONS``) to a selection; returns a summary of what changed."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"action: expected one of {', '.join(BULK_ACTIONS)}")
    matched = ips.count()
    who = {"actor": actor, "reason": reason, "remote_addr": remote_addr}
    if action == "assign_pool":
        changed = ips_assign_pool(ips=ips, pool=pool, **who)
    else:
        changed = ips_set_status(ips=ips, status=BULK_ACTIONS[action], **who)
    return {
        "action": action, "pool": pool.name if pool else None, "matched": matched, "changed": changed,
        "unchanged": matched - changed,
    }  # fmt: skip


PREVIEW = 10


def ips_add_range(
    *, cidr: str, node: Any = None, pool: Any = None, subnet_label: str = "", dry_run: bool = False,
    actor: Any, remote_addr: str | None = None,
) -> dict[str, Any]:
    """Add every usable address of ``cidr`` (``ranges.parse_range``: limits, RFC 3021) as a sending IP
    on ``node`` in ``pool``. Addresses already known are reported and skipped, never duplicated.
    ``dry_run`` only previews. One audit entry per added IP. Raises RangeError (``cidr: …``)."""
    block = parse_range(cidr)
    existing = set(SendingIP.objects.filter(address__in=block.addresses).values_list("address", flat=True))
    new = [a for a in block.addresses if a not in existing]
    result = {
        "cidr": str(block.network), "version": block.version, "usable": len(block.addresses),
        "count": len(new), "first": new[:PREVIEW], "existing_count": len(existing),
        "existing": sorted(existing, key=lambda a: block.addresses.index(a))[:PREVIEW], "dry_run": dry_run,
    }  # fmt: skip
    if dry_run or not new:
        return {**result, "created": 0}
    rows = [SendingIP(address=a, node=node, pool=pool, subnet_label=subnet_label) for a in new]
    for row in rows[:1]:  # one full_clean: every row shares the same node, pool and label
        row.full_clean(validate_unique=False)
    after = {"node": str(node) if node else None, "pool": str(pool) if pool else None, "range": str(block.network)}
    with transaction.atomic():
        created = SendingIP.objects.bulk_create(rows, ignore_conflicts=True)
        stored = SendingIP.objects.filter(address__in=new).values_list("pk", "address")
        AuditLog.objects.bulk_create(
            audit_entry(actor=actor, action="ip.create", object_type="ips.sendingip", object_id=str(pk),
                        object_repr=address, after=after, remote_addr=remote_addr)  # fmt: skip
            for pk, address in stored
        )
        mta_changed()
    return {**result, "created": len(created)}
