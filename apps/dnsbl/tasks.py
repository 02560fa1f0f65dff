"""Thin Celery tasks: the beat slice dispatcher and one chunk of checks."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="dnsbl.check_due", ignore_result=True)
def check_due_task() -> int:
    return services.dnsbl_due_dispatch()


@shared_task(name="dnsbl.check_chunk", ignore_result=True, acks_late=True)
def check_chunk_task(*, ip_ids: list[int], domain_ids: list[int] | None = None, run: str | None = None) -> dict:
    return services.dnsbl_chunk_check(ip_ids=ip_ids, domain_ids=domain_ids or [], run=run)
