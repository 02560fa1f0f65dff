"""Room on every page of the 5-minute rollup tables for updated rows (fillfactor 70).

The ingest worker upserts each 5-minute rollup row many times while its bucket is open.
With full pages (the default fillfactor 100) each update writes the new row version to
another page and a new entry into every index of the table; with room on the page it is
a HOT update, which touches no index. Existing pages keep their layout; new ones (every
new bucket) get the room.
"""

from django.db import migrations

TABLES = [f"events_{family}_{cut}_5m" for family in ("flow", "reason") for cut in ("total", "ip", "sender", "recipient")]


class Migration(migrations.Migration):

    dependencies = [("events", "0008_search_tokens")]

    operations = [
        migrations.RunSQL(
            [f"ALTER TABLE {table} SET (fillfactor = 70)" for table in TABLES],
            [f"ALTER TABLE {table} RESET (fillfactor)" for table in TABLES],
        ),
    ]
