"""Delivery-event ingestion: accept validated batches into the inbox, store them in bulk.

Two halves, each one database transaction (docs/architecture.md, "Ingest path"):

* :func:`ingest_batch_create` (API side) writes one inbox row per request: the accepted
  events as PostgreSQL COPY text, already classified.  Once it returns, the batch is
  durable and the API may answer 202.
* :func:`ingest_batches_store` (Celery side) locks inbox rows with ``FOR UPDATE SKIP
  LOCKED``, COPYs their payloads into a temp staging table, inserts them into the
  partitioned events table with ``ON CONFLICT (event_id, time) DO NOTHING``, folds the
  newly stored rows into the rollups and deletes the inbox rows, all in one transaction:
  a crash anywhere rolls everything back, and a resent event is stored (and counted) once.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.core import timeseries
from apps.core.live import broadcast
from apps.nodes.services import nodes_ensure

from .classification import CompiledRule, classify, compile_rules, default_rules
from .models import BounceRule, EmailEvent, IngestBatch
from .rollups import rollups_apply

log = logging.getLogger(__name__)

# Column order of the COPY text in IngestBatch.payload and of the staging table.
STAGING_COLUMNS: Final = (
    ("event_id", "text"),
    ("time", "timestamptz"),
    ("type", "text"),
    ("node_name", "text"),
    ("sending_ip", "inet"),
    ("message_id", "text"),
    ("sender", "text"),
    ("sender_domain", "text"),
    ("recipient", "text"),
    ("recipient_domain", "text"),
    ("mx_host", "text"),
    ("status_code", "smallint"),
    ("enhanced_status", "text"),
    ("response", "text"),
    ("delay_ms", "integer"),
    ("bounce_category", "text"),
    ("size", "integer"),
    ("account", "text"),
)
# Wire record keys (apps.events.wire storage names) in STAGING_COLUMNS order.
_RECORD_KEYS: Final = (
    "event_id", "time", "type", "node", "sending_ip", "message_id", "sender", "sender_domain", "recipient",
    "recipient_domain", "mx", "status_code", "enhanced_status", "response", "delay_ms", "bounce_category",
    "size", "account",
)  # fmt: skip
_record_values: Final = operator.itemgetter(*_RECORD_KEYS)
# Text columns that are NOT NULL in events_emailevent: a missing value is sent as \N
# (cheapest to render) and becomes "" in the INSERT ... SELECT.
_NOT_NULL_TEXT: Final = frozenset(
    {"message_id", "sender", "sender_domain", "mx_host", "enhanced_status", "response", "bounce_category", "account"}
)
COUNTED_TYPES: Final = ("delivered", "bounced", "deferred", "rejected", "complained", "queued")
CLASSIFIED_TYPES: Final = frozenset({"bounced", "deferred", "rejected"})
INT32_MAX: Final = 2**31 - 1
DOMAIN_MAX: Final = 255
_COPY_NULL: Final = "\\N"
_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class InboxFull(Exception):
    """The inbox backlog is above MAILMON_INGEST_MAX_BACKLOG: the client must retry later."""


# ------------------------------------------------------------------ API side (hot path)


@dataclass(slots=True)
class PreparedBatch:
    """Accepted events in COPY text form, plus what the worker needs without parsing them."""

    payload: bytes = b""
    count: int = 0
    nodes: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)
    # (position among the wire parser's accepted events, field errors keyed by wire name)
    rejected: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def ingest_prepare(
    *,
    events: Sequence[dict[str, Any]],
    scope_node: str | None = None,
    escape: bool = True,
    now: dt.datetime | None = None,
) -> PreparedBatch:
    """Apply the storage rules the wire parser cannot know, classify, render COPY text.

    ``events`` are :func:`apps.events.wire.parse_batch` records.  Rejected here: events
    older than the retention, integers beyond the 32-bit columns, domains over 255
    characters, and (for a node-scoped key) events of another node.  ``escape=False`` is
    allowed only when the raw body held no backslash, so that no string can contain a
    character COPY text must escape.
    """
    retention = settings.MAILMON_EVENTS_RETENTION_DAYS
    oldest = ((now or timezone.now()).date() - dt.timedelta(days=retention)).isoformat()
    rules = bounce_rules_current()
    batch = PreparedBatch()
    lines: list[str] = []
    nodes: set[str] = set()
    days: set[str] = set()
    counts = dict.fromkeys(COUNTED_TYPES, 0)
    for position, record in enumerate(events):
        errors = _storage_errors(record, oldest, scope_node, retention)
        if errors:
            batch.rejected.append((position, errors))
            continue
        kind = record["type"]
        counts[kind] += 1
        record["bounce_category"] = (
            classify(record["status_code"], record["enhanced_status"], record["response"], rules)
            if kind in CLASSIFIED_TYPES
            else None
        )
        nodes.add(record["node"])
        days.add(record["time"][:10])
        lines.append(_copy_line(record, escape))
    lines.append("")  # COPY text wants every line terminated
    batch.payload = "\n".join(lines).encode("utf-8", "replace") if len(lines) > 1 else b""
    batch.count = len(lines) - 1
    batch.nodes = sorted(nodes)
    batch.days = sorted(days)
    batch.counts = counts
    return batch


def _storage_errors(
    record: dict[str, Any], oldest: str, scope_node: str | None, retention: int
) -> dict[str, list[str]] | None:
    # "time" is "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (UTC), so string order is time order.
    # One boolean expression for the common case; the messages are built only on failure.
    delay, size, sender_domain = record["delay_ms"], record["size"], record["sender_domain"]
    if (
        record["time"] >= oldest
        and (delay is None or delay <= INT32_MAX)
        and (size is None or size <= INT32_MAX)
        and len(record["recipient_domain"]) <= DOMAIN_MAX
        and (sender_domain is None or len(sender_domain) <= DOMAIN_MAX)
        and (scope_node is None or record["node"] == scope_node)
    ):
        return None
    errors: dict[str, list[str]] = {}
    if record["time"] < oldest:
        errors["time"] = [f"Time is older than the {retention}-day retention."]
    for name in ("delay_ms", "size"):
        value = record[name]
        if value is not None and value > INT32_MAX:
            errors[name] = [f"Ensure this value is less than or equal to {INT32_MAX}."]
    if len(record["recipient_domain"]) > DOMAIN_MAX:
        errors["to"] = [f"The domain may have at most {DOMAIN_MAX} characters."]
    sender_domain = record["sender_domain"]
    if sender_domain is not None and len(sender_domain) > DOMAIN_MAX:
        errors["from"] = [f"The domain may have at most {DOMAIN_MAX} characters."]
    if scope_node is not None and record["node"] != scope_node:
        errors["node"] = [f"This API key may only report events of node {scope_node!r}."]
    return errors or None


def _copy_line(record: dict[str, Any], escape: bool) -> str:
    # The per-event hot spot of the API: one C-level itemgetter call and one list
    # comprehension (a per-field loop with dict lookups cost ~3x more).
    values = _record_values(record)
    if escape:
        return "\t".join(
            [_COPY_NULL if v is None else v.translate(_COPY_ESCAPES) if v.__class__ is str else str(v) for v in values]
        )
    return "\t".join([_COPY_NULL if v is None else v if v.__class__ is str else str(v) for v in values])


def ingest_batch_create(*, batch: PreparedBatch) -> int:
    """Store one accepted batch in the inbox (one INSERT) and schedule its processing.

    The insert is refused atomically when the inbox already holds
    ``MAILMON_INGEST_MAX_BACKLOG`` events or more: raises :class:`InboxFull`.  Database
    errors propagate (the API answers 503).  Returns the inbox row id.
    """
    table = IngestBatch._meta.db_table
    connection.ensure_connection()
    # A server-side-binding cursor sends the payload as raw binary bytea; Django's
    # default client-side binding would inline it as a hex literal twice its size,
    # which PostgreSQL then has to parse (measured: ~3x slower for 1,000 events).
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"INSERT INTO {table} (events, nodes, days, payload) SELECT %s, %s, %s::date[], %s "
            f"WHERE (SELECT coalesce(sum(events), 0) FROM {table}) < %s RETURNING id",
            [batch.count, batch.nodes, batch.days, batch.payload, settings.MAILMON_INGEST_MAX_BACKLOG],
        )
        row = cursor.fetchone()
    if row is None:
        raise InboxFull
    transaction.on_commit(_dispatch_processing)
    return row[0]


# Per-process time of the last dispatch (see _dispatch_processing).
_last_dispatch = {"at": -1e9}
DISPATCH_INTERVAL: Final = 0.25


def _dispatch_processing() -> None:
    from .tasks import process_inbox

    # A task drains the inbox until it is empty, so under load one dispatch per process
    # every DISPATCH_INTERVAL keeps the workers busy while saving a broker round trip
    # (~2 ms) per request.  A batch that lands right after a worker found the inbox
    # empty waits at most for the next request's dispatch or the beat sweep (10 s).
    now = time.monotonic()
    if now - _last_dispatch["at"] < DISPATCH_INTERVAL:
        return
    _last_dispatch["at"] = now
    try:
        # No publish retries: the batch is already durable and the beat sweep will find
        # it, so a Redis hiccup must not hold up the API's answer.
        process_inbox.apply_async(retry=False)
    except Exception:
        log.warning("could not dispatch process_inbox; the beat sweep will pick the batch up", exc_info=True)


def inbox_backlog() -> int:
    """Events waiting in the inbox (for /metrics and /health queue depths)."""
    return IngestBatch.objects.aggregate(total=Sum("events"))["total"] or 0


# ------------------------------------------------------------------ bounce rules cache

_rules_cache: dict[str, Any] = {"rules": None, "signature": None, "checked": 0.0}

_RULES_SIGNATURE_SQL: Final = (
    "SELECT md5(coalesce(string_agg(concat_ws(chr(31), id, name, category, priority, status_code, "
    "enhanced_status, response, enabled), chr(30) ORDER BY id), '')) FROM events_bouncerule"
)


def bounce_rules_current() -> list[CompiledRule]:
    """The enabled BounceRule rows, compiled; cached in process, re-checked every few seconds.

    The check is one cheap query (an md5 over the ~40 rows), so an admin's edit is in
    force everywhere within MAILMON_INGEST_RULES_REFRESH seconds without any signal.  An
    empty table means the shipped defaults; rules that no longer compile keep the last
    good set in force (the admin form reports the error).
    """
    now = time.monotonic()
    cache = _rules_cache
    if cache["rules"] is not None and now - cache["checked"] < settings.MAILMON_INGEST_RULES_REFRESH:
        return cache["rules"]
    with connection.cursor() as cursor:
        cursor.execute(_RULES_SIGNATURE_SQL)
        signature = cursor.fetchone()[0]
    cache["checked"] = now
    if signature != cache["signature"] or cache["rules"] is None:
        rows = list(BounceRule.objects.values())
        try:
            cache["rules"] = compile_rules(rows) if rows else default_rules()
        except ValueError:
            log.exception("bounce rules do not compile; keeping the previous set")
            cache["rules"] = cache["rules"] or default_rules()
        cache["signature"] = signature
    return cache["rules"]


def bounce_rules_cache_clear() -> None:
    """Forget the cached rules, so the next event sees the table as it is now."""
    _rules_cache.update(rules=None, signature=None, checked=0.0)


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
_INSERTED_DDL: Final = (
    f"CREATE TEMP TABLE IF NOT EXISTS _inserted (LIKE {EmailEvent._meta.db_table}) ON COMMIT DELETE ROWS"
)
_EVENT_COLUMNS: Final = [name if name != "node_name" else "node_id" for name, _ in STAGING_COLUMNS]
_INSERT_SQL: Final = (
    "WITH ins AS ("
    f"INSERT INTO {EmailEvent._meta.db_table} ({', '.join(_EVENT_COLUMNS)}) "
    "SELECT "
    + ", ".join(
        "n.id" if name == "node_name" else f"coalesce(s.{name}, '')" if name in _NOT_NULL_TEXT else f"s.{name}"
        for name, _ in STAGING_COLUMNS
    )
    + " FROM _staging s JOIN unnest(%s::text[], %s::bigint[]) AS n(hostname, id) ON n.hostname = s.node_name"
    " WHERE s.time >= %s"
    # One global order: concurrent workers inserting overlapping keys (a resent batch)
    # then wait for each other instead of deadlocking.  Time first: as cheap as no order
    # at all (measured), where (event_id, time) order cost ~15 % more.
    " ORDER BY s.time, s.event_id"
    " ON CONFLICT (event_id, time) DO NOTHING RETURNING *"
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
    counts = dict.fromkeys(COUNTED_TYPES, 0)
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
