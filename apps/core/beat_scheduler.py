"""Celery beat's scheduler: django-celery-beat's, recording beat's heartbeat on every tick.

The heartbeat used to come only from a beat-scheduled task; with a busy queue that
task waited (and expired) behind ingest work, and /health called a healthy beat
dead. A tick is beat's own loop turning, so it proves beat is scheduling.
"""

from __future__ import annotations

import contextlib

from django_celery_beat.schedulers import DatabaseScheduler

from . import heartbeat


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        with contextlib.suppress(Exception):  # Redis down: /health reports that on its own
            heartbeat.beat_tick_record()
        return super().tick(*args, **kwargs)
