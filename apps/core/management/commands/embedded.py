"""Show or stop the embedded PostgreSQL and Redis (used when DATABASE_URL/REDIS_URL are unset)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from mailmon import embedded


class Command(BaseCommand):
    help = "status: print the server URLs in use; stop: stop the embedded servers under var/."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args, action: str, **options):
        if action == "status":
            self.stdout.write(f"DATABASE_URL={settings.DATABASE_URL}\nREDIS_URL={settings.REDIS_URL}")
            return
        stopped = embedded.stop(settings.VAR_DIR)
        self.stdout.write("stopped: " + (", ".join(stopped) or "nothing was running"))
