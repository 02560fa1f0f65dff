"""The Celery app: configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import contextlib
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")

app = Celery("mailmon")


@app.on_configure.connect
def _start_embedded_servers(**_kwargs) -> None:
    """Before Celery first reads the Django settings (worker, beat, or the first task sent):
    the embedded servers when DATABASE_URL/REDIS_URL are unset. Importing this module starts nothing."""
    from mailmon import embedded

    embedded.start()


app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def _start_worker_heartbeat(**_kwargs) -> None:
    """Record a worker heartbeat every 15 s while this worker lives (read by /health)."""
    import threading

    from apps.core.heartbeat import worker_heartbeat_record

    def beat_forever() -> None:
        import time

        while True:
            with contextlib.suppress(Exception):  # Redis down: /health reports that on its own
                worker_heartbeat_record()
            time.sleep(15)

    threading.Thread(target=beat_forever, name="mailmon-heartbeat", daemon=True).start()
