"""Event search indexes (selectors_search): one per kind of q, created on the parent table
so that every day partition (or hypertable chunk) gets them; pg_trgm comes from contrib."""

import apps.events.models.events
import django.contrib.postgres.indexes
import django.db.models.functions.text
from django.db import migrations, models

from apps.core.timeseries import create_extension_in_savepoint


def response_trigram_index(apps, schema_editor):
    """Text search on ``response`` through pg_trgm (PostgreSQL contrib) where the server has it.

    Servers without contrib (the embedded pgserver) still answer text searches, by scanning
    the newest windows of the range (selectors_search); ``/health/detailed`` is unaffected.
    Opt-in (``MAILMON_SEARCH_TRIGRAM``): a GIN trigram index on every response roughly halves
    the ingest rate (bench/ingest.py), a price only some installs want to pay.
    """
    from django.conf import settings

    if not settings.MAILMON_SEARCH_TRIGRAM:
        return
    if create_extension_in_savepoint(schema_editor.connection, "pg_trgm") is not None:
        return
    schema_editor.execute(
        'CREATE INDEX IF NOT EXISTS "emailevent_response_trgm" ON "events_emailevent" '
        'USING gin ("response" gin_trgm_ops)'
    )


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0005_event_indexes'),
        ('nodes', '0003_node_approval'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(fields=['sending_ip', 'time'], name='emailevent_ip_time'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(fields=['sender_domain', 'time'], name='emailevent_sdomain_time'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Lower('recipient'), name='text_pattern_ops'), models.F('time'), name='emailevent_rcpt_time'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(django.contrib.postgres.indexes.OpClass(django.db.models.functions.text.Lower('sender'), name='text_pattern_ops'), models.F('time'), name='emailevent_sender_time'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(apps.events.models.events.QueueId(), models.F('time'), name='emailevent_queue_id_time'),
        ),
        migrations.RunPython(response_trigram_index, migrations.RunPython.noop, elidable=False),
    ]
