"""``manage.py dnsbl_check [--ip ADDR …]``: one round, now, in this process; prints a summary."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.dnsbl.models import DnsblDomain
from apps.dnsbl.services import dnsbl_round_run, ips_to_check


class Command(BaseCommand):
    help = "Check sending IPs (all but retired, or --ip) and monitored domains on every enabled DNSBL zone now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ip", action="append", default=[], metavar="ADDR", help="only this IP (repeatable)")

    def handle(self, *args, ip: list[str], **options) -> None:
        try:
            ips = ips_to_check(addresses=ip, every=not ip)
        except ValueError as exc:
            raise CommandError(f"--ip: {exc}") from exc
        domains = [] if ip else list(DnsblDomain.objects.filter(enabled=True))
        size = settings.MAILMON_DNSBL_CHUNK_IPS
        totals: dict = {}
        lines: list[str] = []
        for start in range(0, max(len(ips), 1), size):
            summary = dnsbl_round_run(ips=ips[start:start + size], domains=domains if start == 0 else [])
            for key, value in summary.as_dict().items():
                if isinstance(value, list):
                    totals[key] = sorted(set(totals.get(key, [])) | set(value))
                else:
                    totals[key] = totals.get(key, 0) + value
            lines += summary.listed
        self.stdout.write(
            f"checked {len(ips)} IPs and {len(domains)} domains: {totals['listed']} listed, {totals['clean']} clean, "
            f"{totals['errors']} errors; {totals['queries']} queries in {totals['seconds']:.1f} s"
        )
        for line in lines:
            self.stdout.write(f"  newly listed: {line}")
        for key, label in (("unhealthy_zones", "zones failing canaries (not trusted)"), ("paused", "paused"),
                           ("resumed", "resumed")):
            if totals[key]:
                self.stdout.write(f"{label}: {', '.join(totals[key])}")
        for warning in totals["warnings"]:
            self.stderr.write(f"WARNING: {warning}")
