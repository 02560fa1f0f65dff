"""The ingest inbox, and the shipped default bounce-classification rules."""

import django.contrib.postgres.fields
import django.db.models.functions.datetime
from django.db import migrations, models


def load_default_rules(apps, schema_editor):
    # Imported here, not copied: the defaults live (and are tested) in bounce_rules.py.
    # get_or_create keeps any row an admin already edited under the same name.
    from apps.events.bounce_rules import DEFAULT_RULES

    BounceRule = apps.get_model("events", "BounceRule")
    for rule in DEFAULT_RULES:
        fields = {key: value for key, value in rule.items() if key != "name"}
        BounceRule.objects.get_or_create(name=rule["name"], defaults=fields)


def unload_default_rules(apps, schema_editor):
    from apps.events.bounce_rules import DEFAULT_RULES

    BounceRule = apps.get_model("events", "BounceRule")
    BounceRule.objects.filter(name__in=[rule["name"] for rule in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0002_emailevent_timeseries"),
    ]

    operations = [
        migrations.CreateModel(
            name="IngestBatch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("received_at", models.DateTimeField(db_default=django.db.models.functions.datetime.Now())),
                ("events", models.PositiveIntegerField()),
                (
                    "nodes",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(max_length=255), default=list, size=None
                    ),
                ),
                (
                    "days",
                    django.contrib.postgres.fields.ArrayField(base_field=models.DateField(), default=list, size=None),
                ),
                ("payload", models.BinaryField()),
            ],
            options={
                "verbose_name": "ingest batch",
                "verbose_name_plural": "ingest batches",
            },
        ),
        migrations.AlterField(
            model_name="bouncerule",
            name="response",
            field=models.TextField(blank=True, help_text="Case-insensitive regex on the text."),
        ),
        # The payload is written once and read once: compressing it (TOAST's default)
        # would cost CPU on both sides of the hot path for a row that lives seconds.
        migrations.RunSQL(
            "ALTER TABLE events_ingestbatch ALTER COLUMN payload SET STORAGE EXTERNAL",
            migrations.RunSQL.noop,
        ),
        migrations.RunPython(load_default_rules, unload_default_rules),
    ]
