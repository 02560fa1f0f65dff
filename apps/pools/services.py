"""Writes about IP pools: create, update, delete and which IPs they hold, always through here.

Each function validates with ``full_clean()`` and writes the audit log, so the admin, the
pages, the API and tasks change pools the same way.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core.audit import audit_record, snapshot
from apps.ips.mta_version import mta_changed
from apps.ips.services import IpSelection, ips_assign_pool

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
    """Move IPs into ``pool`` (None: out of any pool), one audit entry per IP that moved; returns how many."""
    return ips_assign_pool(ips=ips, pool=pool, actor=actor, reason=reason, remote_addr=remote_addr)
