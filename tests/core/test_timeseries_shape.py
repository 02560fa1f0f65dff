"""The shape of each time-series table comes from the catalog; TimescaleDB is used only when usable."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from apps.core import health, timeseries
from apps.core.tasks import maintain_partitions_task
from apps.events.models import EmailEvent
from apps.nodes.models import NodeMetric
from mailmon.beat import BEAT_SCHEDULE

pytestmark = pytest.mark.django_db

TABLES = [EmailEvent._meta.db_table, NodeMetric._meta.db_table]


@pytest.fixture
def plain_table(db):
    """A time-series-like table that is neither partitioned nor a hypertable (e.g. halfway through a conversion)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE mm_plain_probe (id bigint, time timestamptz NOT NULL)")
    return "mm_plain_probe"


@pytest.fixture
def without_timescale(db):
    if timeseries.timescale_usable(connection)[0]:
        pytest.skip("this server has a usable timescaledb extension (tests/core/test_timescale.py covers it)")


def test_each_time_series_table_has_a_shape_from_the_catalog():
    shapes = {timeseries.table_shape(table) for table in TABLES}
    assert shapes <= {timeseries.PARTITIONS, timeseries.HYPERTABLE}
    assert timeseries.table_shape("mm_no_such_table") is None


def test_a_table_that_is_not_partitioned_reads_as_plain(plain_table):
    assert timeseries.table_shape(plain_table) == timeseries.PLAIN


def test_maintenance_leaves_a_table_that_is_not_day_partitioned_alone(plain_table):
    # Deciding from the extension's presence instead of the table crashed here.
    days = [timezone.now().date() - dt.timedelta(days=n) for n in range(3)]
    assert timeseries.ensure_partitions(plain_table, days) == []
    assert timeseries.maintain({plain_table: 1}) == {plain_table: {"created": [], "dropped": []}}


def test_a_failed_create_extension_leaves_the_transaction_usable():
    error = timeseries.create_extension_in_savepoint(connection, "mm_no_such_extension")
    assert error and "mm_no_such_extension" in error
    with connection.cursor() as cursor:  # only the savepoint was rolled back
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_without_timescaledb_new_tables_get_day_partitions(without_timescale):
    assert timeseries.timescale_usable(connection)[0] is False
    assert timeseries.choose_shape(connection, "auto") == timeseries.PARTITIONS


def test_partitions_are_chosen_when_asked_without_looking_at_the_extension():
    assert timeseries.choose_shape(connection, "partitions") == timeseries.PARTITIONS


def test_asking_for_timescaledb_where_it_is_unusable_is_a_clear_error(without_timescale):
    with pytest.raises(ImproperlyConfigured, match="MAILMON_TIMESERIES=timescaledb"):
        timeseries.choose_shape(connection, "timescaledb")


def test_no_policy_jobs_are_failing_without_hypertables(without_timescale):
    assert timeseries.failing_policy_jobs(TABLES) == []


def test_the_hourly_task_reports_table_shapes_in_health_detailed(viewer_client):
    maintain_partitions_task()
    body = viewer_client.get("/health/detailed").json()
    section = body["timeseries"]
    assert section["ok"] is True
    assert section["tables"] == {table: timeseries.table_shape(table) for table in TABLES}
    assert section["policy_jobs_rerun"] == []


def test_health_detailed_says_when_mailmon_ran_failing_policy_jobs_itself(viewer_client):
    job = {"job_id": 1000, "proc_name": "policy_compression", "table": "events_emailevent", "failures": 12}
    health.timeseries_report_store({"checked_at": "x", "tables": {}, "policy_jobs_rerun": [{**job, "ran": "ok"}]})
    section = viewer_client.get("/health/detailed").json()["timeseries"]
    assert section["ok"] is True and "mailmon ran them itself" in section["detail"]

    failed = {**job, "ran": "failed: cannot drop portal"}
    health.timeseries_report_store({"checked_at": "x", "tables": {}, "policy_jobs_rerun": [failed]})
    section = viewer_client.get("/health/detailed").json()["timeseries"]
    assert section["ok"] is False and section["policy_jobs_rerun"] == [failed]


def test_health_detailed_says_when_maintenance_has_not_run(viewer_client):
    section = viewer_client.get("/health/detailed").json()["timeseries"]
    assert section == {"ok": True, "detail": "maintenance has not run in the last 3 hours"}
    assert json.dumps(section)


def test_the_timeseries_command_shows_each_tables_shape():
    out = StringIO()
    call_command("timeseries", stdout=out)
    assert out.getvalue().splitlines() == [f"{table}: {timeseries.table_shape(table)}" for table in sorted(TABLES)]


def test_converting_without_a_usable_timescaledb_is_refused_and_changes_nothing(without_timescale):
    with pytest.raises(CommandError, match="cannot convert events_emailevent: the timescaledb extension"):
        call_command("timeseries", "convert", stdout=StringIO())
    assert {timeseries.table_shape(table) for table in TABLES} == {timeseries.PARTITIONS}


def test_time_series_maintenance_is_scheduled_hourly_in_beat():
    # Runs on both shapes: partitions ahead, expired partitions or chunks, failing TimescaleDB jobs.
    tasks = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    assert "core.maintain_partitions" in tasks
