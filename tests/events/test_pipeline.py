"""The ingest worker: inbox -> events table (+ rollups, live counters), exactly once."""

from __future__ import annotations

import datetime as dt
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection, connections

from apps.core import timeseries
from apps.core.consumers import LiveConsumer
from apps.events.models import EmailEvent, IngestBatch
from apps.events.services import inbox_drain, ingest_batch_create, ingest_batches_store, ingest_prepare, storage
from apps.events.tasks import process_inbox
from apps.events.wire import parse_batch
from apps.nodes.models import Node
from tests.core.factories import UserFactory

NOW = datetime.now(UTC).replace(microsecond=0)


def event(n: int, **fields) -> dict:
    data = {
        "event_id": f"ev-{n}",
        "time": (NOW - timedelta(seconds=n)).isoformat(),
        "type": "delivered",
        "node": "mta-1",
        "to": f"user{n}@gmail.com",
        "from": "news@shop.example",
        "status_code": 250,
        "delay_ms": 1000 + n,
    }
    data.update(fields)
    return data


def enqueue(events: list[dict]) -> int:
    """What the API does with a body: parse, prepare, one inbox insert."""
    body = json.dumps(events).encode()
    parsed = parse_batch(body)
    assert not parsed.rejected, parsed.rejected
    return ingest_batch_create(batch=ingest_prepare(events=parsed.events, escape=b"\\" in body))


def flow_total() -> int:
    """Events of every type counted in the 5-minute fleet-wide rollup."""
    from apps.events.models.rollups import COUNT_FIELDS
    from apps.events.rollups import table_name

    with connection.cursor() as cursor:
        total = " + ".join(COUNT_FIELDS.values())
        cursor.execute(f"SELECT coalesce(sum({total}), 0) FROM {table_name('flow', 'total', '5m')}")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db
def test_a_resent_batch_is_stored_and_rolled_up_once():
    batch = [event(n) for n in range(50)]
    enqueue(batch)
    enqueue(batch)
    first = ingest_batches_store()
    assert first.received == 100 and first.stored == 50
    assert ingest_batches_store() is None
    enqueue(batch)  # resent after it was stored
    again = ingest_batches_store()
    assert again.received == 50 and again.stored == 0
    assert EmailEvent.objects.count() == 50
    assert flow_total() == 50
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db
def test_a_failure_mid_batch_rolls_back_everything_and_a_rerun_stores_it_once(monkeypatch):
    enqueue([event(n) for n in range(10)])
    real_apply = storage.rollups_apply

    def crash_after_insert(*, cursor, source):
        # The events are inserted (and in _inserted) when this runs: crash right there.
        cursor.execute("SELECT count(*) FROM _inserted")
        assert cursor.fetchone()[0] == 10
        raise RuntimeError("worker died")

    monkeypatch.setattr(storage, "rollups_apply", crash_after_insert)
    with pytest.raises(RuntimeError):
        ingest_batches_store()
    assert EmailEvent.objects.count() == 0
    assert IngestBatch.objects.get().events == 10
    monkeypatch.setattr(storage, "rollups_apply", real_apply)
    assert process_inbox() == 10  # the task, called as a function
    assert EmailEvent.objects.count() == 10
    assert flow_total() == 10


@pytest.mark.django_db
def test_batches_are_taken_up_to_the_event_limit_per_transaction():
    for chunk in range(5):
        enqueue([event(chunk * 100 + n) for n in range(100)])
    first = ingest_batches_store(max_events=250)
    assert (first.batches, first.received) == (3, 300)
    assert IngestBatch.objects.count() == 2
    assert inbox_drain() == 200
    assert EmailEvent.objects.count() == 500


@pytest.mark.django_db
def test_unknown_nodes_are_registered():
    enqueue([event(1, node="mx-new-1"), event(2, node="mx-new-2"), event(3, node="mx-new-1")])
    inbox_drain()
    nodes = dict(Node.objects.filter(hostname__startswith="mx-new").values_list("hostname", "id"))
    assert set(nodes) == {"mx-new-1", "mx-new-2"}
    assert EmailEvent.objects.filter(node_id=nodes["mx-new-1"]).count() == 2


@pytest.mark.django_db
def test_an_event_of_an_old_day_is_stored_whatever_the_table_shape():
    day = (NOW - timedelta(days=40)).date()
    storage._partition_cache.clear()
    enqueue([event(1, time=f"{day.isoformat()}T12:00:00Z")])
    inbox_drain()
    assert EmailEvent.objects.get().time == datetime.combine(day, dt.time(12), tzinfo=UTC)


@pytest.mark.django_db
def test_the_partition_of_an_old_day_is_created_on_demand():
    table = EmailEvent._meta.db_table
    if timeseries.table_shape(table) != timeseries.PARTITIONS:
        pytest.skip("TimescaleDB hypertable: TimescaleDB creates the chunk itself")
    day = (NOW - timedelta(days=40)).date()
    assert day not in timeseries.existing_partitions(table)
    storage._partition_cache.clear()
    enqueue([event(1, time=f"{day.isoformat()}T12:00:00Z")])
    inbox_drain()
    assert day in timeseries.existing_partitions(table)


@pytest.mark.django_db
def test_texts_with_tabs_newlines_and_backslashes_survive_the_copy():
    response = "550 5.1.1 line one\n\tline two \\ back\\slash\r\nend"
    enqueue([event(1, type="bounced", status_code=550, enhanced_status="5.1.1", response=response,
                   message_id="<a\\b@example.com>", account="tab\there")])
    inbox_drain()
    stored = EmailEvent.objects.get()
    assert stored.response == response
    assert stored.message_id == "<a\\b@example.com>"
    assert stored.account == "tab\there"
    assert stored.status_code == 550
    assert stored.sending_ip is None


@pytest.mark.django_db
def test_bounces_are_classified_at_ingest_and_deliveries_are_not():
    enqueue([
        event(1),
        event(2, type="bounced", status_code=550, enhanced_status="5.1.1",
              response="550-5.1.1 The email account that you tried to reach does not exist."),
        event(3, type="deferred", status_code=421, enhanced_status="4.7.28",
              response="421-4.7.28 Gmail has detected an unusual rate of unsolicited mail"),
        event(4, type="rejected", status_code=None, response="connect to mx.example.org[203.0.113.5]:25: "
              "Connection timed out"),
    ])
    inbox_drain()
    categories = dict(EmailEvent.objects.values_list("event_id", "bounce_category"))
    assert categories == {"ev-1": "", "ev-2": "invalid_recipient", "ev-3": "rate_limited", "ev-4": "connection"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_store_every_event_exactly_once():
    for chunk in range(20):
        enqueue([event(chunk * 50 + n) for n in range(50)])
    enqueue([event(n) for n in range(0, 1000, 7)])  # a resend racing with the originals
    results: list[int] = []
    errors: list[BaseException] = []

    def worker():
        try:
            results.append(inbox_drain())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sum(results) == 1000
    assert EmailEvent.objects.count() == 1000
    assert EmailEvent.objects.values("event_id").distinct().count() == 1000
    assert flow_total() == 1000
    assert IngestBatch.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_live_counters_of_newly_stored_events_reach_an_open_websocket():
    user = UserFactory(username="watcher", role="Viewer")
    batch = [event(1), event(2), event(3, type="bounced", status_code=550, enhanced_status="5.1.1"),
             event(4, type="deferred", status_code=421)]

    async def scenario():
        communicator = WebsocketCommunicator(LiveConsumer.as_asgi(), "/ws/live/?streams=events")
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from())["event"] == "hello"
        await sync_to_async(enqueue)(batch)
        await sync_to_async(enqueue)(batch[:2])  # duplicates: not counted again
        await sync_to_async(inbox_drain)()
        message = await communicator.receive_json_from(timeout=5)
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert message["stream"] == "events" and message["event"] == "counters"
    assert message["data"]["counts"] == {
        "delivered": 2, "bounced": 1, "deferred": 1, "rejected": 0, "complained": 0, "queued": 0,
    }
    assert datetime.fromisoformat(message["data"]["time"]).tzinfo is not None


@pytest.mark.django_db
def test_a_batch_postgresql_refuses_is_kept_aside_and_does_not_stall_the_others(caplog):
    enqueue([event(1)])
    # A row the parser would never produce (an impossible inet): PostgreSQL refuses it.
    good = IngestBatch.objects.get()
    poison = IngestBatch.objects.create(
        events=1, nodes=["mta-1"], days=good.days,
        payload=bytes(good.payload).replace(b"\t\\N\t", b"\tnot-an-ip\t", 1).replace(b"ev-1", b"ev-bad"),
    )
    enqueue([event(2)])
    enqueue([event(3)])
    try:
        assert inbox_drain() == 3
        assert set(EmailEvent.objects.values_list("event_id", flat=True)) == {"ev-1", "ev-2", "ev-3"}
        assert list(IngestBatch.objects.values_list("id", flat=True)) == [poison.id]
        assert f"inbox batch {poison.id} cannot be stored" in caplog.text
        assert inbox_drain() == 0  # skipped from now on, not retried in a loop
    finally:
        storage._quarantined.clear()
