from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="nodes.refresh_status", ignore_result=True)
def refresh_status_task() -> int:
    return services.nodes_refresh_status()
