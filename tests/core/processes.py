"""Helpers for tests that start real processes (daphne, Celery worker and beat) on the test database.

pytest-django creates ``test_<name>``; a subprocess only sees it if we hand it a
``DATABASE_URL`` naming it. The test settings and the tests' Redis (with its database
offset) make heartbeats, the broker and the channel layer shared with the test process
and never with a running portal.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def subprocess_database_url() -> str:
    """A DATABASE_URL for the database this test session really uses (``test_<name>``)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "postgres", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or ""
    if host.startswith("/"):  # unix socket directory (embedded pgserver)
        return f"postgresql://{auth}@/{db['NAME']}?host={host}"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}@{host or '127.0.0.1'}{port}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILMON_REDIS_DB_OFFSET": str(settings.REDIS_DB_OFFSET),
        "DATABASE_CONN_MAX_AGE": "0",  # so that dropping the test database never waits on us
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], log_path: Path, **env: str) -> subprocess.Popen:
    """Start ``python <args>`` in its own process group, output to ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=subprocess_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, timeout: float = 15) -> int:
    """Stop a process group started by :func:`start`: SIGTERM, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
    proc.log.close()  # type: ignore[attr-defined]
    return proc.returncode


def log_tail(proc: subprocess.Popen, chars: int = 3000) -> str:
    return Path(proc.log_path).read_text(errors="replace")[-chars:]  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, procs=(), interval: float = 0.25) -> None:
    """Poll ``condition`` until true; fail with the processes' logs after ``timeout`` or if one dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(f"{what}: process exited with {proc.returncode}\n{log_tail(proc)}")
        if condition():
            return
        time.sleep(interval)
    logs = "\n".join(log_tail(p) for p in procs)
    raise AssertionError(f"{what}: not within {timeout:.0f}s\n{logs}")
