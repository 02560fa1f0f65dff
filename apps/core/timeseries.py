"""Time-series storage: the one module that knows how big tables are partitioned.

Where the database has the ``timescaledb`` extension, time-series tables become
hypertables with compression and retention policies; elsewhere they are
PostgreSQL tables range-partitioned by day, with partitions created ahead and
dropped after their retention by a beat task. Nothing outside this module
knows which of the two is in use.

Both shapes need the partition key in every unique index, so a time-series
model's primary key is ``(id, time)`` in the database (Django still sees ``id``,
which stays unique because it comes from one identity sequence).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db import connection
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

PARTITION_SUFFIX = "_p"

# Time-series tables, registered by their apps in AppConfig.ready() (core imports no app):
# db_table -> a callable returning the retention in days, read when the maintenance task runs.
TABLES: dict[str, Callable[[], int]] = {}


def has_timescale(conn=connection) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        return cursor.fetchone() is not None


def _timescale_available(conn) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        return cursor.fetchone() is not None


def make_timeseries(schema_editor: BaseDatabaseSchemaEditor, model, *, retention_days: int) -> None:
    """Turn the (empty) table of ``model`` into a time-series table.

    Called from a migration right after the model's CreateModel.
    """
    conn = schema_editor.connection
    if _timescale_available(conn):
        _make_hypertable(schema_editor, model, retention_days=retention_days)
    else:
        _make_partitioned(schema_editor, model)
        ensure_partitions(model._meta.db_table, _days_around_today(), conn=conn)


def _make_hypertable(schema_editor, model, *, retention_days: int) -> None:
    table = schema_editor.quote_name(model._meta.db_table)
    name = model._meta.db_table
    statements = [
        "CREATE EXTENSION IF NOT EXISTS timescaledb",
        f"ALTER TABLE {table} DROP CONSTRAINT {schema_editor.quote_name(name + '_pkey')}",
        f"ALTER TABLE {table} ADD PRIMARY KEY (id, time)",
        f"SELECT create_hypertable('{name}', 'time', chunk_time_interval => interval '1 day')",
        f"ALTER TABLE {table} SET (timescaledb.compress, timescaledb.compress_orderby = 'time DESC')",
        f"SELECT add_compression_policy('{name}', interval '2 days')",
        f"SELECT add_retention_policy('{name}', interval '{int(retention_days)} days')",
    ]
    for sql in statements:
        schema_editor.execute(sql)


def _make_partitioned(schema_editor, model) -> None:
    name = model._meta.db_table
    table = schema_editor.quote_name(name)
    old = schema_editor.quote_name(name + "__plain")
    # Django created a plain table with its indexes; rebuild it partitioned and
    # add the model's indexes and constraints back under their Django names.
    schema_editor.execute(f"ALTER TABLE {table} RENAME TO {old}")
    schema_editor.execute(
        f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY "
        f"INCLUDING CONSTRAINTS INCLUDING GENERATED) PARTITION BY RANGE (time)"
    )
    schema_editor.execute(f"DROP TABLE {old}")
    schema_editor.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (id, time)")
    for index in model._meta.indexes:
        schema_editor.add_index(model, index)
    for constraint in model._meta.constraints:
        schema_editor.add_constraint(model, constraint)


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}{PARTITION_SUFFIX}{day:%Y%m%d}"


def _days_around_today(ahead: int | None = None) -> list[dt.date]:
    from django.conf import settings

    ahead = settings.MAILMON_PARTITIONS_AHEAD_DAYS if ahead is None else ahead
    today = timezone.now().date()
    return [today + dt.timedelta(days=offset) for offset in range(-1, ahead + 1)]


def existing_partitions(table: str, conn=connection) -> dict[dt.date, str]:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = table + PARTITION_SUFFIX
    found = {}
    for partition in names:
        if partition.startswith(prefix):
            found[dt.datetime.strptime(partition[len(prefix):], "%Y%m%d").date()] = partition
    return found


def ensure_partitions(table: str, days: Iterable[dt.date], conn=connection) -> list[str]:
    """Create the day partitions of ``table`` that are missing; returns the created names."""
    if has_timescale(conn):
        return []  # hypertables create their chunks themselves
    existing = existing_partitions(table, conn)
    created = []
    with conn.cursor() as cursor:
        for day in sorted(set(days) - set(existing)):
            partition = partition_name(table, day)
            lower = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
            upper = lower + dt.timedelta(days=1)
            cursor.execute(
                f'CREATE TABLE IF NOT EXISTS "{partition}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
            )
            created.append(partition)
    return created


def drop_expired(table: str, retention_days: int, conn=connection) -> list[str]:
    """Drop every day partition wholly older than the retention; returns the dropped names."""
    cutoff = timezone.now().date() - dt.timedelta(days=retention_days)
    if has_timescale(conn):
        with conn.cursor() as cursor:
            cursor.execute("SELECT drop_chunks(%s, older_than => %s::timestamptz)", [table, cutoff.isoformat()])
            return [row[0] for row in cursor.fetchall()]
    dropped = []
    with conn.cursor() as cursor:
        for day, partition in sorted(existing_partitions(table, conn).items()):
            if day < cutoff:
                cursor.execute(f'DROP TABLE IF EXISTS "{partition}"')
                dropped.append(partition)
    return dropped


def maintain(tables: dict[str, int], conn=connection) -> dict[str, dict[str, list[str]]]:
    """Create partitions ahead and drop expired ones for each ``{table: retention_days}``."""
    return {
        table: {
            "created": ensure_partitions(table, _days_around_today(), conn),
            "dropped": drop_expired(table, retention, conn),
        }
        for table, retention in tables.items()
    }
