"""Thin Celery tasks for event ingestion (the work is in apps/events/services/storage.py)."""

from __future__ import annotations

import time

import psycopg
from celery import shared_task
from django.db import OperationalError

from . import rollups
from .services import storage

# A worker drains the inbox for at most this long, then hands over to a fresh task so
# that a long backlog never pins one task (and its broker message) for minutes.
DRAIN_SECONDS = 30.0


@shared_task(
    name="events.process_inbox",
    ignore_result=True,
    # Deadlocks between workers and a database restart are both "try again shortly";
    # a failed attempt leaves the inbox rows untouched.
    autoretry_for=(OperationalError, psycopg.OperationalError),
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=10,
)
def process_inbox() -> int:
    """Store waiting inbox batches; returns the number of newly stored events."""
    started = time.monotonic()
    stored = storage.inbox_drain(time_budget=DRAIN_SECONDS)
    if time.monotonic() - started >= DRAIN_SECONDS:
        process_inbox.apply_async(retry=False)  # budget spent with work (probably) left
    return stored


@shared_task(name="events.rollups_refresh", ignore_result=True)
def rollups_refresh_task() -> int:
    """Recompute the hourly and daily rollups of the hours ingest touched; expire old 5-minute rows."""
    hours = rollups.rollups_refresh()
    rollups.rollups_expire()
    return hours
