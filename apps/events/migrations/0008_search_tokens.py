"""Event search through one GIN index of SearchTokens instead of five btrees (issue 7).

The five "(key, time)" btrees of 0006 cost ingest about 34 µs of PostgreSQL CPU per
event (bench/ingest.py); one GIN index with fastupdate a fraction of that (docs/architecture.md,
"Search indexes and ingest").
Building it reads every stored event once: on a large install, run ``migrate`` when
ingest is quiet (the API keeps accepting batches into the inbox meanwhile).
"""

import apps.events.models.events
import django.contrib.postgres.indexes
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('events', '0007_greylisted'),
        ('nodes', '0004_health_thresholds'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='emailevent',
            name='emailevent_ip_time',
        ),
        migrations.RemoveIndex(
            model_name='emailevent',
            name='emailevent_sdomain_time',
        ),
        migrations.RemoveIndex(
            model_name='emailevent',
            name='emailevent_rcpt_time',
        ),
        migrations.RemoveIndex(
            model_name='emailevent',
            name='emailevent_sender_time',
        ),
        migrations.RemoveIndex(
            model_name='emailevent',
            name='emailevent_queue_id_time',
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=django.contrib.postgres.indexes.GinIndex(apps.events.models.events.SearchTokens(), name='emailevent_search_tokens'),
        ),
    ]
