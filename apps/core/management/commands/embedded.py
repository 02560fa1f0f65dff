"""Start, show, stop or run a command with the embedded PostgreSQL and Redis (DATABASE_URL/REDIS_URL unset)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mailmon import embedded


class Command(BaseCommand):
    help = (
        "start: start the embedded servers (they keep running); status: print the server URLs in use; "
        "stop: stop the embedded servers under var/; run -- CMD: run CMD with them, then stop the ones "
        "this call started (make demo)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["start", "status", "stop", "run"])
        parser.add_argument("command", nargs="*", help="run: the command and its arguments (after --)")

    def handle(self, *args, action: str, command: list[str], **options):
        if action == "run":
            if not command:
                raise CommandError("run: give the command to run after --")
            raise SystemExit(embedded.run(command))
        if command:
            raise CommandError(f"{action}: takes no command")
        if action == "start":
            started = embedded.start()
            self.stdout.write("started: " + (", ".join(started) or "nothing (already running or configured)"))
        elif action == "status":
            self.stdout.write(f"DATABASE_URL={settings.DATABASE_URL}\nREDIS_URL={settings.REDIS_URL}")
        else:
            stopped = embedded.stop(settings.VAR_DIR)
            self.stdout.write("stopped: " + (", ".join(stopped) or "nothing was running"))
