"""Periodic housekeeping: heartbeats and time-series partitions."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import heartbeat, timeseries


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    heartbeat.beat_heartbeat_record()


def timeseries_tables() -> dict[str, int]:
    from apps.events.models import EmailEvent
    from apps.nodes.models import NodeMetric

    return {
        EmailEvent._meta.db_table: settings.MAILMON_EVENTS_RETENTION_DAYS,
        NodeMetric._meta.db_table: settings.MAILMON_METRICS_RETENTION_DAYS,
    }


@shared_task(name="core.maintain_partitions", ignore_result=True)
def maintain_partitions_task() -> dict:
    return timeseries.maintain(timeseries_tables())
