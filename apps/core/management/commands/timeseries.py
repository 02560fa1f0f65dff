"""Show how each time-series table is stored, or convert day-partitioned tables to TimescaleDB hypertables."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from apps.core import timeseries


class Command(BaseCommand):
    help = "status: the shape of each time-series table; convert: day partitions -> hypertables (portal stopped)."

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", choices=["status", "convert"], default="status")

    def handle(self, *args, action: str, **options):
        tables = timeseries.tables()
        if action == "convert":
            self._convert(tables)
        for table in sorted(tables):
            self.stdout.write(f"{table}: {timeseries.table_shape(table)}")
        for job in timeseries.failing_policy_jobs(tables):
            self.stdout.write(f"failing TimescaleDB job {job['job_id']} ({job['proc_name']} on {job['table']}): "
                              f"{job['last_error'] or 'see timescaledb_information.job_errors'}")

    def _convert(self, tables: dict[str, int]) -> None:
        models = {model._meta.db_table: model for model in apps.get_models()}
        for table, retention in sorted(tables.items()):
            if timeseries.table_shape(table) != timeseries.PARTITIONS:
                continue
            try:
                moved = timeseries.convert_to_hypertable(models[table], retention_days=retention)
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{table}: {moved} rows moved into a hypertable")
