"""Make WarmupSend a time-series table (day partitions, or a TimescaleDB hypertable)."""

from django.conf import settings
from django.db import migrations

from apps.core import timeseries


def forwards(apps, schema_editor):
    model = apps.get_model("warmup", "WarmupSend")
    timeseries.make_timeseries(schema_editor, model, retention_days=settings.MAILMON_WARMUP_SEND_RETENTION_DAYS)


class Migration(migrations.Migration):
    dependencies = [("warmup", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop, elidable=False)]
