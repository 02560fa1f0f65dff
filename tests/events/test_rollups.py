"""Rollups equal the same figures computed from the raw events, however they were built."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from apps.events.rollups import all_tables, rollups_rebuild
from tests.factories import NodeFactory

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
    rows = random_events(count=3000, start=T0, span=dt.timedelta(hours=30), node_ids=nodes, ips=["198.51.100.1", "198.51.100.2", "2001:db8::1"])
    for i in range(0, len(rows), 700):
        store_events(rows[i : i + 700])
    incremental = _snapshot()
    assert sum(len(v) for v in incremental.values()) > 100
    assert rollups_rebuild() == 2
    assert _snapshot() == incremental
