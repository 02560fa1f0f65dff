"""manage.py rebuild_rollups [--from DATE --to DATE]: recompute rollups exactly from the raw events."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from apps.events.rollups import rollups_rebuild


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"expected a date like 2026-11-25, got {value!r}") from None


class Command(BaseCommand):
    help = (
        "Recompute the rollups of whole UTC days from the raw events, one day per transaction. "
        "Without --from/--to every rollup is dropped and all days holding events are rebuilt. "
        "Ingest batches wait while a day is rebuilt, then count exactly once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", type=_date, help="First UTC day (inclusive), YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", type=_date, help="Last UTC day (inclusive), YYYY-MM-DD.")

    def handle(self, *args, start: dt.date | None, end: dt.date | None, **options):
        if (start is None) != (end is None):
            raise CommandError("--from and --to go together (or leave both out to rebuild everything)")
        if start and end and end < start:
            raise CommandError("--to: must not be before --from")
        stop = end + dt.timedelta(days=1) if end else None
        days = rollups_rebuild(start=start, end=stop, progress=lambda line: self.stdout.write(line))
        self.stdout.write(self.style.SUCCESS(f"rebuilt {days} day(s)"))
