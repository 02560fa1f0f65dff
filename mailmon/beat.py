"""Every periodic task in one list. ``expires`` sits just under the interval so a stale
duplicate dies instead of piling up behind a slow worker. django-celery-beat copies
these into its tables at start; operators may then edit them in the admin."""

from __future__ import annotations

from celery.schedules import crontab


def every(seconds: float, task: str, **options) -> dict:
    return {"task": task, "schedule": seconds, "options": {"expires": seconds * 0.9, **options}}


BEAT_SCHEDULE = {
    "heartbeat": every(15, "core.heartbeat"),
    "maintain-partitions": {
        "task": "core.maintain_partitions",
        "schedule": crontab(minute=7),
        "options": {"expires": 3000},
    },
    "fleet-status": every(15, "nodes.refresh_status"),
    # Safety sweep: the API dispatches a task per batch; this catches any that was lost.
    "events-inbox-sweep": every(10, "events.process_inbox"),
}
