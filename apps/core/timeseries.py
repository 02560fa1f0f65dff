"""Time-series storage: the one module that knows how big tables are partitioned.

A time-series table has one of two shapes, chosen once by the migration that
creates it (``make_timeseries``):

* a TimescaleDB **hypertable** with compression and retention policies, when the
  ``timescaledb`` extension is usable in this database (already created, or
  ``CREATE EXTENSION`` succeeds: it is in ``shared_preload_libraries``);
* a PostgreSQL table **range-partitioned by day** otherwise, with partitions
  created ahead and dropped after their retention by a beat task.

``MAILMON_TIMESERIES`` (``auto`` | ``partitions`` | ``timescaledb``) overrides the
detection. Afterwards every operation reads the shape of each table from the
catalog (``table_shape``), never from the extension's presence: a day-partitioned
database that later gains the extension keeps its partitions working.

Both shapes need the partition key in every unique index, so a time-series
model's primary key is ``(id, time)`` in the database (Django still sees ``id``,
which stays unique because it comes from one identity sequence).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

logger = logging.getLogger(__name__)

PARTITION_SUFFIX = "_p"
HYPERTABLE, PARTITIONS, PLAIN = "hypertable", "partitions", "plain"
POLICY_PROCS = ("policy_compression", "policy_retention")

# Time-series tables, registered by their apps in AppConfig.ready() (core imports no app):
# db_table -> a callable returning the retention in days, read when the maintenance task runs.
TABLES: dict[str, Callable[[], int]] = {}


def tables() -> dict[str, int]:
    """Every registered time-series table with its retention in days (read now)."""
    return {table: retention() for table, retention in TABLES.items()}


def has_timescale(conn=connection) -> bool:
    """Whether the ``timescaledb`` extension is created in this database."""
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        return cursor.fetchone() is not None


def _timescale_available(conn) -> bool:
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
        return cursor.fetchone() is not None


def create_extension_in_savepoint(conn, name: str) -> str | None:
    """``CREATE EXTENSION IF NOT EXISTS name`` in a savepoint; the error text when it fails.

    A failure (not preloaded, no permission, not installed) rolls back to the
    savepoint only, so the surrounding migration goes on.
    """
    try:
        with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
            cursor.execute(f'CREATE EXTENSION IF NOT EXISTS "{name}"')
    except DatabaseError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def timescale_usable(conn=connection) -> tuple[bool, str]:
    """Whether hypertables can be made here (creating the extension if it can be); and why not."""
    if has_timescale(conn):
        return True, "extension created"
    if not _timescale_available(conn):
        return False, "the timescaledb extension is not installed on the server"
    error = create_extension_in_savepoint(conn, "timescaledb")
    if error:
        return False, f"CREATE EXTENSION timescaledb failed: {error}"
    return True, "extension created"


def choose_shape(conn, mode: str | None = None) -> str:
    """The shape for a new time-series table: ``MAILMON_TIMESERIES``, else what the database allows."""
    from django.conf import settings

    mode = mode or settings.MAILMON_TIMESERIES
    if mode == "partitions":
        return PARTITIONS
    usable, reason = timescale_usable(conn)
    if usable:
        return HYPERTABLE
    if mode == "timescaledb":
        raise ImproperlyConfigured(
            f"MAILMON_TIMESERIES=timescaledb but {reason}. Add timescaledb to shared_preload_libraries "
            "and restart PostgreSQL, or set MAILMON_TIMESERIES=auto or partitions."
        )
    if _timescale_available(conn):  # installed but unusable: worth telling, not worth failing
        logger.warning("TimescaleDB is installed but not usable (%s); time-series tables use day partitions. "
                       "See docs/operations.md, 'Time-series storage'.", reason)
    return PARTITIONS


def make_timeseries(schema_editor: BaseDatabaseSchemaEditor, model, *, retention_days: int) -> None:
    """Turn the (empty) table of ``model`` into a time-series table.

    Called from a migration right after the model's CreateModel.
    """
    conn = schema_editor.connection
    if choose_shape(conn) == HYPERTABLE:
        _make_hypertable(schema_editor, model, retention_days=retention_days)
    else:
        _make_partitioned(schema_editor, model)
        ensure_partitions(model._meta.db_table, _days_around_today(), conn=conn)


def _make_hypertable(schema_editor, model, *, retention_days: int) -> None:
    table = schema_editor.quote_name(model._meta.db_table)
    name = model._meta.db_table
    statements = [
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


def table_shape(table: str, conn=connection) -> str | None:
    """``hypertable``, ``partitions`` or ``plain``, read from the catalog; None when there is no such table."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind FROM pg_class c WHERE c.relname = %s AND pg_table_is_visible(c.oid)", [table]
        )
        row = cursor.fetchone()
        if row is None:
            return None
        if row[0] == "p":
            return PARTITIONS
        if has_timescale(conn):
            cursor.execute("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s", [table])
            if cursor.fetchone() is not None:
                return HYPERTABLE
    return PLAIN


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


def _is_partitioned(table: str, conn) -> bool:
    # One query on the hot path (every agent report, every worker batch with a new day).
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                       "WHERE c.relname = %s AND pg_table_is_visible(c.oid)", [table])
        return cursor.fetchone() is not None


def ensure_partitions(table: str, days: Iterable[dt.date], conn=connection) -> list[str]:
    """Create the day partitions of ``table`` that are missing; returns the created names.

    Does nothing for a table that is not day-partitioned (a hypertable makes its chunks itself).
    """
    if not _is_partitioned(table, conn):
        return []
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
    """Drop every day partition (or chunk) wholly older than the retention; returns the dropped names."""
    cutoff = timezone.now().date() - dt.timedelta(days=retention_days)
    shape = table_shape(table, conn)
    if shape == HYPERTABLE:
        with conn.cursor() as cursor:
            cursor.execute("SELECT drop_chunks(%s, older_than => %s::timestamptz)", [table, cutoff.isoformat()])
            return [row[0] for row in cursor.fetchall()]
    if shape != PARTITIONS:
        return []
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


def convert_to_hypertable(model, *, retention_days: int, conn=connection) -> int:
    """Rebuild the day-partitioned table of ``model`` as a hypertable holding the same rows.

    One transaction: the table is renamed aside (its indexes too, so that the new table
    gets Django's index names), recreated from the model exactly as a fresh TimescaleDB
    install has it, filled, and the old one dropped. Returns the number of rows moved.
    Run it with the portal, workers and beat stopped; it needs free disk for a copy.
    """
    table = model._meta.db_table
    if table_shape(table, conn) != PARTITIONS:
        raise ValueError(f"{table} is not day-partitioned (it is {table_shape(table, conn)})")
    with transaction.atomic(using=conn.alias):
        usable, reason = timescale_usable(conn)
        if not usable:
            raise ImproperlyConfigured(f"cannot convert {table}: {reason}")
        old = f"{table}__partitions"
        with conn.schema_editor(atomic=False) as editor:
            _rename_aside(editor, table, old)
            editor.create_model(model)
            for sql in editor.deferred_sql:  # indexes now, before create_hypertable
                editor.execute(sql)
            editor.deferred_sql.clear()
            _make_hypertable(editor, model, retention_days=retention_days)
        columns = ", ".join(editor.quote_name(field.column) for field in model._meta.concrete_fields)
        with conn.cursor() as cursor:
            cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{old}"')
            moved = cursor.rowcount
            cursor.execute(f'DROP TABLE "{old}" CASCADE')
            cursor.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), coalesce(max(id), 0) + 1, false) "
                           f'FROM "{table}"', [table])
            # The new identity sequence got a suffixed name while the old one existed.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            if sequence != f"public.{table}_id_seq":
                cursor.execute(f'ALTER SEQUENCE {sequence} RENAME TO "{table}_id_seq"')
    return moved


def _rename_aside(editor, table: str, old: str) -> None:
    editor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    with editor.connection.cursor() as cursor:
        cursor.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass", [old])
        indexes = [row[0] for row in cursor.fetchall()]
    for number, index in enumerate(indexes):
        editor.execute(f'ALTER INDEX {index} RENAME TO "{old[:40]}_old_{number}"')


def failing_policy_jobs(tables: Iterable[str], conn=connection) -> list[dict]:
    """TimescaleDB compression/retention jobs on ``tables`` whose last background run failed."""
    if not has_timescale(conn):
        return []
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT j.job_id, j.proc_name, j.hypertable_name, s.total_failures "
            "FROM timescaledb_information.jobs j JOIN timescaledb_information.job_stats s USING (job_id) "
            "WHERE j.proc_name = ANY(%s) AND j.hypertable_name = ANY(%s) AND s.last_run_status = 'Failed' "
            "ORDER BY j.job_id",
            [list(POLICY_PROCS), list(tables)],
        )
        columns = ("job_id", "proc_name", "table", "failures")
        jobs = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    errors = _last_job_errors([job["job_id"] for job in jobs], conn) if jobs else {}
    return [{**job, "last_error": errors.get(job["job_id"])} for job in jobs]


def _last_job_errors(job_ids: list[int], conn) -> dict[int, str]:
    with conn.cursor() as cursor:
        cursor.execute("SELECT to_regclass('timescaledb_information.job_errors') IS NOT NULL")
        if not cursor.fetchone()[0]:  # TimescaleDB < 2.9
            return {}
        cursor.execute(
            "SELECT DISTINCT ON (job_id) job_id, err_message FROM timescaledb_information.job_errors "
            "WHERE job_id = ANY(%s) ORDER BY job_id, start_time DESC",
            [job_ids],
        )
        return dict(cursor.fetchall())


def run_policy_jobs(jobs: Iterable[dict], conn=connection) -> list[dict]:
    """Run each job in this session (``CALL run_job``): the background worker could not.

    Needs autocommit (the policies commit between chunks), as in a Celery task.
    """
    ran = []
    for job in jobs:
        try:
            with conn.cursor() as cursor:
                cursor.execute("CALL run_job(%s)", [job["job_id"]])
            ran.append({**job, "ran": "ok"})
        except DatabaseError as exc:
            logger.warning("TimescaleDB job %s (%s) failed when run by mailmon: %s",
                           job["job_id"], job["proc_name"], exc)
            ran.append({**job, "ran": f"failed: {str(exc).strip().splitlines()[0]}"})
    return ran
