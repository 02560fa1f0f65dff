"""Run the portal's processes together: daphne, a Celery worker, beat (and the demo traffic).

``make serve`` and ``make demo`` use it. A process that dies is started again after a
backoff (1 s, doubling to 60 s; back to 1 s once it has run for a minute), logged and
counted in ``/metrics`` as ``mailmon_stack_restarts_total{process=...}``: ingest keeps
running when, say, beat crashes. Only Ctrl-C (or SIGTERM) stops the stack, every process
cleanly. In production run the same commands under systemd or compose (see compose.yaml).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.metrics import STACK_RESTARTS, counter_inc

log = logging.getLogger("mailmon.run_stack")

BACKOFF_FIRST = 1.0  # seconds before the first restart
BACKOFF_MAX = 60.0
STABLE_AFTER = 60.0  # a process that ran this long restarts after BACKOFF_FIRST again


def stack_commands(port: int, *, demo: bool, concurrency: int) -> dict[str, list[str]]:
    python = sys.executable
    log_dir = settings.VAR_DIR / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        # Access logs go to var/log/ so the terminal shows what matters (errors, the URL).
        "web": [python, "-m", "mailmon.daphne_server", "-b", "127.0.0.1", "-p", str(port),
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


@dataclass
class Child:
    """One process of the stack and when it may be started again."""

    name: str
    command: list[str]
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST
    restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env, cwd=settings.BASE_DIR, start_new_session=True)
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> str | None:
        """Restart the process when its backoff has passed; a message when it has just died."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return None
        if self.proc is None or self.proc.poll() is None:
            return None
        if now - self.started_at >= STABLE_AFTER:
            self.backoff = BACKOFF_FIRST
        self.restart_at = now + self.backoff
        message = f"{self.name} exited with {self.proc.returncode}; restarting in {self.backoff:.0f} s"
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return message


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
        commands = stack_commands(port, demo=demo, concurrency=concurrency)
        children = [Child(name, command, env) for name, command in commands.items()]
        for child in children:
            child.start()
        self.stdout.write(self.style.SUCCESS(f"mailmon is running on http://127.0.0.1:{port}/  (Ctrl-C stops it)"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for child in children:
                    if message := child.check(time.monotonic()):
                        self._restarted(child, message)
                time.sleep(0.5)
        finally:
            self._stop_all({child.name: child.proc for child in children if child.proc is not None})

    def _restarted(self, child: Child, message: str) -> None:
        self.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}")
        try:
            counter_inc(STACK_RESTARTS, process=child.name)
        except Exception:  # Redis down: the restart matters more than its count
            log.warning("restart of %s not counted: Redis unreachable", child.name)

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
