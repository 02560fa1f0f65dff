"""Run the portal's processes together: daphne, a Celery worker, beat (and the demo traffic).

``make serve`` and ``make demo`` use it; Ctrl-C (or SIGTERM) stops every process cleanly.
In production run the same commands under systemd or compose (see compose.yaml).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def stack_commands(port: int, *, demo: bool, concurrency: int) -> dict[str, list[str]]:
    python = sys.executable
    log_dir = settings.VAR_DIR / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        # Access logs go to var/log/ so the terminal shows what matters (errors, the URL).
        "web": [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                "--access-log", str(log_dir / "daphne-access.log"), "mailmon.asgi:application"],
        "worker": [python, "-m", "celery", "-A", "mailmon", "worker", "-l", "warning",
                   "--concurrency", str(concurrency), "-n", "worker@%h"],
        "beat": [python, "-m", "celery", "-A", "mailmon", "beat", "-l", "warning"],
        # Event ingest (POST /api/v1/events/ingest) at high rates: sync gunicorn workers,
        # several times faster than one daphne process (docs/architecture.md, "Ingest path").
        # daphne serves the same endpoint too; shippers may use either port.
        "ingest": [python, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port + 1}", "--timeout", "60",
                   "mailmon.wsgi:application"],
    }
    if demo:
        commands["traffic"] = [
            python, "manage.py", "simulate_traffic",
            "--url", f"http://127.0.0.1:{port}", "--ingest-url", f"http://127.0.0.1:{port + 1}",
        ]
    return commands


class Command(BaseCommand):
    help = "Start daphne + Celery worker + beat (+ traffic simulator with --demo) and stop them on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--demo", action="store_true", help="Also run the demo traffic simulator.")
        parser.add_argument("--concurrency", type=int, default=2)

    def handle(self, *args, port: int, demo: bool, concurrency: int, **options):
        if demo and not apps.is_installed("apps.demo"):
            raise CommandError("--demo: the demo app is not installed (MAILMON_DEMO is off, as in production)")
        env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL}
        procs: dict[str, subprocess.Popen] = {}
        for name, command in stack_commands(port, demo=demo, concurrency=concurrency).items():
            procs[name] = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, start_new_session=True)
        self.stdout.write(self.style.SUCCESS(f"mailmon is running on http://127.0.0.1:{port}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the stack")
                        stopping = True
                time.sleep(0.5)
        finally:
            self._stop_all(procs)

    def _stop_all(self, procs: dict[str, subprocess.Popen]) -> None:
        # Clients first, so that no request to daphne/gunicorn is cut off mid-way.
        client = procs.get("traffic")
        if client is not None and client.poll() is None:
            client.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(timeout=10)
        for proc in procs.values():
            if proc.poll() is None:
                # The main process only: a Celery worker then finishes its running tasks (warm
                # shutdown) and stops its pool itself; SIGTERM to the whole group would kill
                # the pool children mid-task. The group gets SIGKILL below if it hangs.
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
                self.stderr.write(f"{name} did not stop in time; killed")
        self.stdout.write("mailmon stopped.")
