"""gunicorn settings for the ingest server (``gunicorn mailmon.wsgi:application``).

gunicorn reads ``./gunicorn.conf.py`` by default, so ``run_stack``, compose and the
benchmarks, which all start it from the repository root, get these; command-line flags
(``-w``, ``-b``, ``--timeout``) still override them.

Threads, not sync workers: a sync worker serves one request at a time, so a few slow
requests (a large batch, a database that stopped answering) queue every other request
behind them, ``/health/live`` included, and a liveness probe would kill a healthy pod.
With threads a probe finds a free one; ingest stays CPU-bound per process, so
throughput comes from ``-w`` (processes), threads only keep the door open.

Eight per worker, not four: a gthread worker keeps accepting connections while all its
threads are busy and queues them, and the kernel may hand every stalled shipper to the same
worker; with four threads, four shippers waiting out a hung database's connect timeout on
one worker held a probe there for 5 s (seen in CI).  Idle threads cost nothing and
open no database connection; after the first failure ``apps.core.db_gate`` answers 503 at
once, so no more than one request per worker waits for the database at a time.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the plain `gunicorn` script may not have it

from mailmon.env import envint  # noqa: E402

worker_class = "gthread"
threads = envint("MAILMON_INGEST_THREADS", 8, minimum=1)
