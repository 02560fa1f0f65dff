"""Periodic housekeeping: heartbeats, time-series partitions and TimescaleDB policy jobs."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import health, heartbeat, timeseries


@shared_task(name="core.heartbeat", ignore_result=True)
def heartbeat_task() -> None:
    heartbeat.beat_heartbeat_record()


@shared_task(name="core.maintain_partitions", ignore_result=True)
def maintain_partitions_task() -> dict:
    tables = timeseries.tables()
    result = timeseries.maintain(tables)
    # TimescaleDB's background worker can fail every policy job (seen on PostgreSQL 15.20 with
    # TimescaleDB 2.28/2.29) while the same job run from a session works: run those here.
    rerun = timeseries.run_policy_jobs(timeseries.failing_policy_jobs(tables))
    health.timeseries_report_store({
        "checked_at": timezone.now().isoformat(),
        "tables": {table: timeseries.table_shape(table) for table in tables},
        "policy_jobs_rerun": rerun,
    })
    return result
