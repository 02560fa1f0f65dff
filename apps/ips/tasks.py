"""Thin Celery tasks of the sending-IP module."""

from __future__ import annotations

from celery import shared_task

from . import services_warmup


@shared_task(name="ips.warmup_advance", ignore_result=True)
def warmup_advance_task() -> dict[str, int]:
    return services_warmup.warmup_advance_all()
