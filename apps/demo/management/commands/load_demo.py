"""Load the demo fleet, create the admin login and the simulator's agent key (make demo)."""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand

from apps.demo import services as demo


class Command(BaseCommand):
    help = "Load 15 demo nodes, 4 pools and a /24 + /26 of sending IPs; create user 'admin'."

    def handle(self, *args, **options):
        counts = demo.demo_fleet_load()
        self.stdout.write(f"demo fleet: {counts['nodes']} nodes, {counts['pools']} pools, {counts['ips']} sending IPs")
        username, password = demo.demo_admin_ensure(password=os.environ.get("MAILMON_ADMIN_PASSWORD"))
        demo.demo_agent_key_ensure()
        self.stdout.write(self.style.SUCCESS(f"login: {username} / {password}"))
