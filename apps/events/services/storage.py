"""The worker's storage: inbox batches -> ``events_emailevent`` + rollups, exactly once.

:func:`ingest_batches_store` locks inbox rows with ``FOR UPDATE SKIP LOCKED``, COPYs their
payloads (rendered by :mod:`apps.events.services.inbox`) into a temp staging table, inserts
them into the partitioned events table with ``ON CONFLICT (event_id, time) DO NOTHING``,
folds the newly stored rows into the rollups and deletes the inbox rows, all in one
transaction: a crash anywhere rolls everything back, and a resent event is stored (and
counted) once.  See docs/architecture.md, "Ingest path".
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Final

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from apps.core import timeseries
from apps.core.live import broadcast
from apps.nodes.services import nodes_ensure

from ..models import EmailEvent, IngestBatch
from ..models.rollups import SOURCE_COLUMNS
from ..rollups import rollups_apply
from ..wire import EVENT_TYPES
from .inbox import NOT_NULL_TEXT, STAGING_COLUMNS

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ worker side


@dataclass(frozen=True, slots=True)
class StoreResult:
    batches: int
    received: int
    stored: int
    counts: dict[str, int]


_STAGING_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS _staging ("
    + ", ".join(f"{name} {kind}" for name, kind in STAGING_COLUMNS)
    + ") ON COMMIT DELETE ROWS"
)
# Only what the rollups and the live counters read of each stored row: copying whole rows
# (message ids, addresses) into the temp table cost ~2 µs of PostgreSQL CPU per event.
_INSERTED_DDL: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS _inserted ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(SOURCE_COLUMNS)} FROM {EmailEvent._meta.db_table} WITH NO DATA"
)
_EVENT_COLUMNS: Final = [name if name != "node_name" else "node_id" for name, _ in STAGING_COLUMNS]
_INSERT_SQL: Final = (
    "WITH ins AS ("
    f"INSERT INTO {EmailEvent._meta.db_table} ({', '.join(_EVENT_COLUMNS)}) "
    "SELECT "
    + ", ".join(
        "n.id" if name == "node_name" else f"coalesce(s.{name}, '')" if name in NOT_NULL_TEXT else f"s.{name}"
        for name, _ in STAGING_COLUMNS
    )
    + " FROM _staging s JOIN unnest(%s::text[], %s::bigint[]) AS n(hostname, id) ON n.hostname = s.node_name"
    " WHERE s.time >= %s"
    # One global order: concurrent workers inserting overlapping keys (a resent batch)
    # then wait for each other instead of deadlocking.  Time first: as cheap as no order
    # at all (measured), where (event_id, time) order cost ~15 % more.
    " ORDER BY s.time, s.event_id"
    f" ON CONFLICT (event_id, time) DO NOTHING RETURNING {', '.join(SOURCE_COLUMNS)}"
    ") INSERT INTO _inserted SELECT * FROM ins"
)
_LOCK_SQL: Final = (
    f"SELECT id, events, nodes, days, payload FROM {IngestBatch._meta.db_table} "
    "WHERE id > %s AND NOT (id = ANY(%s)) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)
# Data errors PostgreSQL raises for a row validation should have refused (a bug, or a
# rule the parser does not know): they repeat on every attempt, unlike deadlocks.
_DATA_ERRORS: Final = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError)
# Inbox ids this process found unstorable: left in the inbox (nothing is thrown away)
# for an operator, logged, and skipped so that one bad batch cannot stall the pipeline.
_quarantined: dict[int, str] = {}

# Days whose partition is known to exist, re-checked after a while because the
# retention sweep drops old ones.
_partition_cache: dict[dt.date, float] = {}
_PARTITION_CACHE_SECONDS: Final = 300.0


class BatchStoreError(Exception):
    """Storing the locked inbox rows ``inbox_ids`` failed with a data error."""

    def __init__(self, inbox_ids: list[int], error: Exception):
        super().__init__(f"inbox batches {inbox_ids}: {error}")
        self.inbox_ids = inbox_ids
        self.error = error


def ingest_batches_store(*, max_events: int | None = None) -> StoreResult | None:
    """Move up to ``max_events`` waiting events from the inbox into events_emailevent.

    One transaction: lock inbox rows (``SKIP LOCKED``, so any number of workers share the
    inbox), COPY their payloads into ``_staging``, insert the new ones into the events
    table with their rows captured in ``_inserted``, fold those into the rollups, delete
    the inbox rows.  Afterwards the live counters of the newly stored events are
    broadcast.  Returns None when nothing was waiting.  Raises :class:`BatchStoreError`
    (after rolling back) when PostgreSQL refuses the data itself.
    """
    limit = max_events or settings.MAILMON_INGEST_BATCH_EVENTS
    locked: list[tuple] = []
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                locked = _lock_batches(cursor, limit)
                if not locked:
                    return None
                result = _store_locked(cursor, locked)
            transaction.on_commit(lambda: _broadcast_counts(result.counts))
    except _DATA_ERRORS as exc:
        raise BatchStoreError([row[0] for row in locked], exc) from exc
    return result


def _lock_batches(cursor, limit: int) -> list[tuple]:
    # One row at a time so that a worker never holds (and hides from the others) more
    # rows than it will process; each statement is a primary-key index probe.
    locked: list[tuple] = []
    total, last_id = 0, 0
    # Server-side binding with binary results: the payload arrives as raw bytes, not
    # as hex text twice its size to decode (same transaction: same connection).
    with psycopg.Cursor(cursor.db.connection) as raw:
        while total < limit:
            raw.execute(_LOCK_SQL, [last_id, list(_quarantined)], binary=True)
            row = raw.fetchone()
            if row is None:
                break
            locked.append(row)
            total += row[1]
            last_id = row[0]
    return locked


def _store_locked(cursor, locked: list[tuple]) -> StoreResult:
    # No fsync wait for this commit: if the server crashes before the commit is on disk,
    # the whole transaction is lost, inbox DELETE included, so the batch is simply
    # stored again later; nothing is lost or duplicated.  (The API's inbox insert keeps
    # synchronous_commit on: its 202 promises durability.)
    cursor.execute("SET LOCAL synchronous_commit = off")
    node_names = sorted({name for row in locked for name in row[2]})
    days = {day for row in locked for day in row[3]}
    oldest = timezone.now().date() - dt.timedelta(days=settings.MAILMON_EVENTS_RETENTION_DAYS)
    _ensure_partitions(day for day in days if day >= oldest)
    node_ids = nodes_ensure(hostnames=node_names) if node_names else {}
    cursor.execute(_STAGING_DDL)
    cursor.execute(_INSERTED_DDL)
    # Empty already after each commit (ON COMMIT DELETE ROWS); a caller's outer
    # transaction (tests, a management command) must not see the previous batch.
    cursor.execute("DELETE FROM _staging; DELETE FROM _inserted")
    with cursor.cursor.copy(f"COPY _staging ({', '.join(n for n, _ in STAGING_COLUMNS)}) FROM STDIN") as copy:
        for row in locked:
            copy.write(row[4])
    names = list(node_ids)
    cursor.execute(
        _INSERT_SQL,
        [names, [node_ids[name] for name in names], dt.datetime.combine(oldest, dt.time.min, tzinfo=dt.UTC)],
    )
    stored = cursor.rowcount
    rollups_apply(cursor=cursor, source="_inserted")
    cursor.execute("SELECT type, count(*) FROM _inserted GROUP BY type")
    counts = dict.fromkeys(EVENT_TYPES, 0)
    counts.update(dict(cursor.fetchall()))
    cursor.execute(f"DELETE FROM {IngestBatch._meta.db_table} WHERE id = ANY(%s)", [[row[0] for row in locked]])
    return StoreResult(
        batches=len(locked), received=sum(row[1] for row in locked), stored=stored, counts=counts
    )


def _ensure_partitions(days) -> None:
    now = time.monotonic()
    missing = [day for day in days if now - _partition_cache.get(day, -1e9) > _PARTITION_CACHE_SECONDS]
    if not missing:
        return
    # Inside the batch transaction, before the events table is touched: creating a
    # partition locks the parent, and taking that lock first cannot deadlock with the
    # other workers' inserts.
    timeseries.ensure_partitions(EmailEvent._meta.db_table, missing)
    for day in missing:
        _partition_cache[day] = now


def _broadcast_counts(counts: dict[str, int]) -> None:
    if not any(counts.values()):
        return
    broadcast("events", "counters", {"time": timezone.now().isoformat(), "counts": counts})


def inbox_drain(*, time_budget: float = 30.0) -> int:
    """Store batches until the inbox is empty or ``time_budget`` seconds have passed.

    Returns the number of events newly stored.  Used by the Celery task and by
    management commands; safe to run in any number of processes at once.
    """
    deadline = time.monotonic() + time_budget
    stored = 0
    # After a data error, one inbox row per transaction until the culprit is isolated.
    one_by_one = False
    while time.monotonic() < deadline:
        try:
            result = ingest_batches_store(max_events=1 if one_by_one else None)
        except BatchStoreError as exc:
            if len(exc.inbox_ids) == 1:
                _quarantined[exc.inbox_ids[0]] = str(exc.error)
                log.error("inbox batch %s cannot be stored and stays in the inbox: %s", exc.inbox_ids[0], exc.error)
            one_by_one = len(exc.inbox_ids) > 1
            continue
        if result is None:
            break
        stored += result.stored
    return stored
