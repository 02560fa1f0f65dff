"""Thin Celery tasks of the sending-IP module."""

from __future__ import annotations

from celery import shared_task

from . import services_ptr, services_warmup
from .models import SendingIP


@shared_task(name="ips.warmup_advance", ignore_result=True)
def warmup_advance_task() -> dict[str, int]:
    return services_warmup.warmup_advance_all()


@shared_task(name="ips.ptr_check_all", ignore_result=True)
def ptr_check_all_task() -> dict:
    """Beat: every IP but retired ones (MAILMON_PTR_CHECK_HOURS, default daily)."""
    return services_ptr.ips_ptr_check(ips=services_ptr.ptr_checked_ips())


@shared_task(name="ips.ptr_check", ignore_result=True, acks_late=True)
def ptr_check_task(*, ip_ids: list[int], requested_by: str | None = None) -> dict:
    """"Check PTR now" on a selection; changes are audited in the requester's name."""
    actor = services_ptr.Actor(requested_by) if requested_by else services_ptr.CHECKER
    return services_ptr.ips_ptr_check(ips=SendingIP.objects.filter(pk__in=ip_ids), actor=actor)
