"""Make EmailEvent a time-series table (day partitions, or a TimescaleDB hypertable)."""

from django.conf import settings
from django.db import migrations

from apps.core import timeseries


def forwards(apps, schema_editor):
    model = apps.get_model("events", "EmailEvent")
    timeseries.make_timeseries(schema_editor, model, retention_days=settings.MAILMON_EVENTS_RETENTION_DAYS)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
