"""Time-series tables: day partitions exist ahead of time and the retention task drops old ones."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from apps.core import timeseries
from apps.core.tasks import maintain_partitions_task
from apps.events.models import EmailEvent
from apps.nodes.models import NodeMetric
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db

TABLES = [EmailEvent._meta.db_table, NodeMetric._meta.db_table]


@pytest.fixture(autouse=True)
def _day_partitions(db):
    if any(timeseries.table_shape(table) != timeseries.PARTITIONS for table in TABLES):
        pytest.skip("TimescaleDB hypertables here: TimescaleDB manages chunks itself (tests/core/test_timescale.py)")


def _today() -> dt.date:
    return timezone.now().date()


def _is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE relname = %s",
                       [table])
        return cursor.fetchone() is not None


@pytest.mark.parametrize("table", TABLES)
def test_time_series_tables_are_range_partitioned_by_day(table):
    assert _is_partitioned(table)


@pytest.mark.parametrize("table", TABLES)
def test_todays_and_the_coming_days_partitions_exist_after_maintenance(table, settings):
    settings.MAILMON_PARTITIONS_AHEAD_DAYS = 3
    maintain_partitions_task()
    days = timeseries.existing_partitions(table)
    wanted = {_today() + dt.timedelta(days=n) for n in range(0, 4)}
    assert wanted <= days.keys()


def test_partitions_made_by_the_migration_cover_today():
    # Fresh databases can take rows at once, before beat has run.
    for table in TABLES:
        assert _today() in timeseries.existing_partitions(table)


def test_the_retention_task_drops_partitions_older_than_the_retention(settings):
    settings.MAILMON_METRICS_RETENTION_DAYS = 30
    settings.MAILMON_EVENTS_RETENTION_DAYS = 90
    table = NodeMetric._meta.db_table
    node = NodeFactory()
    old_day, kept_day = _today() - dt.timedelta(days=31), _today() - dt.timedelta(days=29)
    timeseries.ensure_partitions(table, [old_day, kept_day])
    for day in (old_day, kept_day, _today()):
        NodeMetric.objects.create(node=node, time=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC), cpu_percent=1)
    events_old = _today() - dt.timedelta(days=91)
    events_kept = _today() - dt.timedelta(days=60)
    timeseries.ensure_partitions(EmailEvent._meta.db_table, [events_old, events_kept])

    result = maintain_partitions_task()

    metric_days = timeseries.existing_partitions(table)
    assert old_day not in metric_days and kept_day in metric_days
    assert result[table]["dropped"] == [timeseries.partition_name(table, old_day)]
    assert sorted(NodeMetric.objects.values_list("time__date", flat=True)) == [kept_day, _today()]
    event_days = timeseries.existing_partitions(EmailEvent._meta.db_table)
    assert events_old not in event_days and events_kept in event_days


def test_maintenance_is_idempotent():
    maintain_partitions_task()
    again = maintain_partitions_task()
    assert all(not r["created"] and not r["dropped"] for r in again.values())


def test_a_row_for_a_day_without_a_partition_is_refused():
    # No default partition: data never lands silently where retention cannot drop it.
    node = NodeFactory()
    far = timezone.now() + dt.timedelta(days=400)
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError), transaction.atomic():
        NodeMetric.objects.create(node=node, time=far)
