"""Rollups equal the same figures computed from the raw events, however they were built."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from apps.events.rollups import all_tables, rollups_rebuild
from tests.nodes.factories import NodeFactory

from .factories import event, random_events, store_events

T0 = dt.datetime(2026, 11, 20, 9, 58, tzinfo=dt.UTC)


def _table(name: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {name}")
        return sorted((row[1:] for row in cursor.fetchall()), key=repr)  # without the surrogate id


def _snapshot() -> dict[str, list[tuple]]:
    return {name: _table(name) for name in all_tables()}


@pytest.mark.django_db
def test_it_counts_a_resent_event_once():
    node = NodeFactory()
    row = event(time=T0, node_id=node.id, event_id="same")
    assert store_events([row]) == 1
    assert store_events([dict(row)]) == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_delivered, delay_n, delay_sum FROM events_flow_total_1d")
        assert cursor.fetchall() == [(1, 1, 1200)]


@pytest.mark.django_db
def test_rebuild_reproduces_the_incremental_rollups_exactly():
    nodes = [NodeFactory().id for _ in range(3)]
    ips = ["198.51.100.1", "198.51.100.2", "2001:db8::1"]
    rows = random_events(count=3000, start=T0, span=dt.timedelta(hours=30), node_ids=nodes, ips=ips)
    for i in range(0, len(rows), 700):
        store_events(rows[i : i + 700])
    incremental = _snapshot()
    assert sum(len(v) for v in incremental.values()) > 100
    assert rollups_rebuild() == 2
    assert _snapshot() == incremental


@pytest.mark.django_db
def test_five_minute_rollups_are_current_at_once_and_coarse_ones_after_the_refresh():
    from apps.events import selectors
    from apps.events.rollups import rollups_refresh
    from apps.events.time_range import EventFilters, TimeRange

    node = NodeFactory()
    rows = [event(time=T0 + dt.timedelta(minutes=i), node_id=node.id, delay_ms=100 * i) for i in range(30)]
    store_events(rows, refresh=False)
    short = TimeRange(start=T0 - dt.timedelta(hours=1), end=T0 + dt.timedelta(hours=1))
    day = TimeRange(start=T0 - dt.timedelta(hours=12), end=T0 + dt.timedelta(hours=12))
    assert selectors.stats(time_range=short, filters=EventFilters())["delivered"] == 30
    assert selectors.stats(time_range=day, filters=EventFilters())["delivered"] == 0
    assert rollups_refresh() == 2  # 09:00 and 10:00
    assert selectors.stats(time_range=day, filters=EventFilters())["delivered"] == 30
    assert _table("events_rollup_dirty") == []
    assert rollups_refresh() == 0
    snapshot = _snapshot()
    rollups_rebuild()
    assert _snapshot() == snapshot


@pytest.mark.django_db
def test_rebuild_command_rebuilds_the_given_days_only(capsys):
    from django.core.management import CommandError, call_command

    node = NodeFactory()
    store_events([event(time=T0, node_id=node.id), event(time=T0 + dt.timedelta(days=2), node_id=node.id)])
    with connection.cursor() as cursor:  # damage both days' rollups
        cursor.execute("UPDATE events_flow_total_1d SET n_delivered = 99")
    call_command("rebuild_rollups", "--from", "2026-11-20", "--to", "2026-11-20")
    assert "2026-11-20 rebuilt" in capsys.readouterr().out
    with connection.cursor() as cursor:
        cursor.execute("SELECT bucket::date, n_delivered FROM events_flow_total_1d ORDER BY 1")
        assert cursor.fetchall() == [(dt.date(2026, 11, 20), 1), (dt.date(2026, 11, 22), 99)]
    call_command("rebuild_rollups")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(n_delivered) FROM events_flow_total_1d")
        assert cursor.fetchone()[0] == 2
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "2026-11-20")
    with pytest.raises(CommandError):
        call_command("rebuild_rollups", "--from", "2026-11-21", "--to", "2026-11-20")


@pytest.mark.django_db
def test_the_refresh_task_drops_five_minute_rollups_past_the_event_retention(settings):
    from apps.events.rollups import rollups_expire
    from apps.events.tasks import rollups_refresh_task

    node = NodeFactory()
    store_events([event(time=T0, node_id=node.id), event(time=T0 + dt.timedelta(days=4), node_id=node.id)],
                 refresh=False)  # fmt: skip
    settings.MAILMON_EVENTS_RETENTION_DAYS = 10_000  # the task expires too: nothing is that old
    assert rollups_refresh_task() == 2  # the hourly (and daily) rollups of both events' hours
    settings.MAILMON_EVENTS_RETENTION_DAYS = 3
    assert rollups_expire(now=T0 + dt.timedelta(days=5)) == 4  # the old event's row in each flow cut
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(bucket) FROM events_flow_total_5m")
        assert cursor.fetchone() == (1, T0 + dt.timedelta(days=4) - dt.timedelta(minutes=3))
        cursor.execute("SELECT count(*) FROM events_flow_total_1h")
        assert cursor.fetchone()[0] == 2


def test_the_5_minute_rollups_leave_room_for_hot_updates(db):
    """Migration 0009: the worker updates each open 5-minute row many times; fillfactor 70
    keeps those updates on the page (HOT), so they write no index entries."""
    from apps.events.models.rollups import ROLLUP_MODELS

    tables = [model._meta.db_table for (_family, _cut, grain), model in ROLLUP_MODELS.items() if grain == "5m"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [tables])
        options = dict(cursor.fetchall())
    assert sorted(options) == sorted(tables)
    assert all(opts and "fillfactor=70" in opts for opts in options.values()), options
