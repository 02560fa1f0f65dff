"""Writes about IP pools: create, update, delete and which IPs they hold, always through here.

Each function validates with ``full_clean()`` and writes the audit log, so the admin, the
pages, the API and tasks change pools the same way.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.audit import audit_entry, audit_record, snapshot
from apps.core.models import AuditLog
from apps.ips.models import SendingIP
from apps.ips.mta_version import mta_changed
from apps.ips.services import IpSelection, selection_pks

from .choices import PoolType
from .models import IpPool

EDITABLE = ("name", "type", "description")


def pool_create(
    *, name: str, type: str = PoolType.GENERAL, description: str = "", actor: Any, remote_addr: str | None = None
) -> IpPool:
    """A new pool; refused (ValidationError) for a bad or taken name."""
    pool = IpPool(name=name, type=type, description=description)
    pool.full_clean()
    pool.save()
    audit_record(actor=actor, action="pool.create", obj=pool, after=snapshot(pool, list(EDITABLE)),
                 remote_addr=remote_addr)  # fmt: skip
    mta_changed()
    return pool


def pool_update(*, pool: IpPool, actor: Any, remote_addr: str | None = None, **changes: Any) -> IpPool:
    """Change a pool's name, type or description; audited with before/after of what changed."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"pool_update: cannot change {', '.join(sorted(unknown))}")
    changed = [field for field, value in changes.items() if getattr(pool, field) != value]
    if not changed:
        return pool
    before = snapshot(pool, changed)
    for field in changed:
        setattr(pool, field, changes[field])
    pool.full_clean()
    pool.save(update_fields=[*changed, "updated_at"])
    audit_record(actor=actor, action="pool.change", obj=pool, before=before, after=snapshot(pool, changed),
                 remote_addr=remote_addr)  # fmt: skip
    mta_changed()
    return pool


def pool_delete(*, pool: IpPool, actor: Any, remote_addr: str | None = None) -> None:
    """Delete a pool; its IPs stay, without a pool (the audit entry says how many)."""
    with transaction.atomic():
        before = {**snapshot(pool, list(EDITABLE)), "ips": pool.ips.count()}
        pk = str(pool.pk)
        pool.delete()
        audit_record(actor=actor, action="pool.delete", obj=pool, object_id=pk, before=before,
                     remote_addr=remote_addr)  # fmt: skip
        mta_changed()


def pool_assign_ips(
    *, pool: IpPool | None, ips: IpSelection, actor: Any, reason: str = "", remote_addr: str | None = None
) -> int:
    """Move IPs into ``pool`` (None: out of any pool): one UPDATE, one audit entry per IP that
    moved (bulk-inserted); returns how many."""
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
