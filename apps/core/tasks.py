"""Periodic housekeeping: heartbeats and time-series partitions."""

from __future__ import annotations

from celery import shared_task

from . import heartbeat, timeseries


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    heartbeat.beat_heartbeat_record()


@shared_task(name="core.maintain_partitions", ignore_result=True)
def maintain_partitions_task() -> dict:
    return timeseries.maintain({table: retention() for table, retention in timeseries.TABLES.items()})
