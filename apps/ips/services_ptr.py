"""Writes of the PTR checks: run a check of many IPs, store each outcome, audit what moved.

Beat (``ips.ptr_check_all``, every ``MAILMON_PTR_CHECK_HOURS``), "Check PTR now" on the IP
page, the admin action and ``POST /api/v1/ips/ptr/check`` all end in :func:`ips_ptr_check`,
which runs the Django-free checker (``ptr.py``) and stores its answers in bulk.
A check that got no answer (timeout, SERVFAIL) records the error and keeps the last
known name: a flaky resolver must not erase a good PTR.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.audit import audit_entry, audit_record
from apps.core.dns import resolver_settings, run_async
from apps.core.models import AuditLog

from .choices import IpStatus, PtrStatus
from .models import SendingIP
from .ptr import ERROR, PtrResult, check_ptrs
from .services import IpSelection, selection_pks

PTR_FIELDS = ["ptr", "ptr_status", "ptr_detail", "ptr_checked_at"]


@dataclass(frozen=True)
class Actor:
    """Who the audit log names for a scheduled check (or one a user asked for)."""

    name: str = "ptr-checker"


CHECKER = Actor()


def ptr_checked_ips():
    """IPs the scheduled check covers: all but retired ones."""
    return SendingIP.objects.exclude(status=IpStatus.RETIRED)


def _apply(ip: SendingIP, result: PtrResult, now: dt.datetime) -> dict | None:
    """Set the outcome on ``ip``; the fields that moved (before values), or None."""
    before = {"ptr": ip.ptr, "ptr_status": ip.ptr_status}
    ip.ptr_status, ip.ptr_detail, ip.ptr_checked_at = result.status, result.detail[:255], now
    if result.status != ERROR:  # an error says nothing about the name: keep the last known one
        ip.ptr = result.name[:255]
    moved = {k: v for k, v in before.items() if getattr(ip, k) != v}
    return moved or None


def ips_ptr_check(
    *, ips: IpSelection, actor: Any = CHECKER, reason: str = "", remote_addr: str | None = None,
    now: dt.datetime | None = None,
) -> dict:
    """Check the PTR of every IP in ``ips`` now (concurrently) and store the outcomes: one UPDATE
    per batch, one audit entry per IP whose name or status changed. Returns a summary."""
    rows = list(SendingIP.objects.filter(pk__in=selection_pks(ips)).only("id", "address", *PTR_FIELDS))
    report = run_async(check_ptrs(addresses=[ip.address for ip in rows], dns=resolver_settings(),
                                  concurrency=settings.MAILMON_PTR_CONCURRENCY))  # fmt: skip
    now = now or timezone.now()
    by_address = {r.address: r for r in report.results}
    entries = []
    for ip in rows:
        before = _apply(ip, by_address[ip.address], now)
        if before is not None:
            entries.append(audit_entry(
                actor=actor, action="ip.ptr_change", object_type="ips.sendingip", object_id=str(ip.pk),
                object_repr=ip.address, before=before, after={k: getattr(ip, k) for k in before},
                reason=reason or ip.ptr_detail, remote_addr=remote_addr,
            ))  # fmt: skip
    with transaction.atomic():
        SendingIP.objects.bulk_update(rows, PTR_FIELDS, batch_size=1000)
        AuditLog.objects.bulk_create(entries, batch_size=1000)
    outcomes = Counter(r.status for r in report.results)
    return {"checked": len(rows), **{s: outcomes[s] for s in PtrStatus.values if s != PtrStatus.UNCHECKED},
            "changed": len(entries), "queries": report.queries, "seconds": round(report.seconds, 3)}  # fmt: skip


def ips_ptr_check_request(*, ips: IpSelection, actor: Any, remote_addr: str | None = None) -> dict:
    """Queue a check of ``ips`` now (a Celery task after commit); the request is audited, and so is
    each change the check finds, in the requester's name."""
    from .tasks import ptr_check_task

    ids = list(SendingIP.objects.filter(pk__in=selection_pks(ips)).order_by("pk").values_list("pk", flat=True))
    audit_record(actor=actor, action="ip.ptr_check_now", object_type="ips.sendingip", object_id="",
                 object_repr=f"{len(ids)} IP(s)", after={"count": len(ids)}, remote_addr=remote_addr)  # fmt: skip
    if ids:
        requester = Actor(f"ptr-checker (asked by {getattr(actor, 'username', actor)})")
        transaction.on_commit(lambda: ptr_check_task.delay(ip_ids=ids, requested_by=requester.name))
    return {"queued": len(ids)}
