"""Every periodic task in one list. ``expires`` sits just under the interval so a stale
duplicate dies instead of piling up behind a slow worker. django-celery-beat copies
these into its tables at start; operators may then edit them in the admin."""

from __future__ import annotations

from celery.schedules import crontab

from mailmon.env import envint


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
    # Safety sweep: the ingest API dispatches process_inbox (at most every 0.25 s per process);
    # this picks up a batch whose dispatch was skipped or lost.
    "events-inbox-sweep": every(10, "events.process_inbox"),
    # Hourly and daily rollups follow the 5-minute ones (kept current by ingest itself).
    "events-rollups-refresh": every(30, "events.rollups_refresh"),
    # Each minute queues that minute's slice of IPs (id mod MAILMON_DNSBL_INTERVAL_MINUTES):
    # every IP once per interval, the load spread evenly (docs/dnsbl.md).
    "dnsbl-check-due": every(60, "dnsbl.check_due"),
    # Warmup: plan each cycle's sends (MAILMON_WARMUP_INTERVAL, default 15 min), IMAP engagement,
    # and the daily cleanup of old send-log partitions and day counters.
    "warmup-cycle": every(envint("MAILMON_WARMUP_INTERVAL", 900, minimum=60), "warmup.plan_cycle"),
    "warmup-engage": every(1800, "warmup.engage_all"),
    "warmup-cleanup": {"task": "warmup.cleanup", "schedule": crontab(hour=3, minute=23), "options": {"expires": 3600}},
    # Warmup: judge each warming IP on the UTC day that just ended (advance, hold, complete).
    "ips-warmup-advance": {
        "task": "ips.warmup_advance",
        "schedule": crontab(minute=20, hour=0),
        "options": {"expires": 23 * 3600},
    },
    # Reverse DNS of every sending IP but retired ones, forward-confirmed (MAILMON_PTR_CHECK_HOURS, default daily).
    "ips-ptr-check": every(envint("MAILMON_PTR_CHECK_HOURS", 24, minimum=1, maximum=24 * 30) * 3600,
                           "ips.ptr_check_all"),
    # Every rule against one read per source; detection within 30 s of a for-duration passing.
    "alerts-evaluate": every(30, "alerts.evaluate"),
}
