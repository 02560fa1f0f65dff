"""Accepting a batch into the inbox: the API's hot path of ``POST /api/v1/events/ingest``.

:func:`ingest_prepare` applies the storage rules the wire parser cannot know, classifies
bounces and renders the accepted events as PostgreSQL COPY text; :func:`ingest_batch_create`
writes them as ONE inbox row (one INSERT).  Once it returns, the batch is durable and the
API may answer 202; a Celery worker moves it on (:mod:`apps.events.services.storage`).
See docs/architecture.md, "Ingest path".
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from ..classification import CompiledRule, classify, compile_rules, default_rules
from ..models import BounceRule, IngestBatch
from ..wire import EVENT_TYPES

log = logging.getLogger(__name__)

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
NOT_NULL_TEXT: Final = frozenset(
    {"message_id", "sender", "sender_domain", "mx_host", "enhanced_status", "response", "bounce_category", "account"}
)
CLASSIFIED_TYPES: Final = frozenset({"bounced", "deferred", "rejected"})
INT32_MAX: Final = 2**31 - 1
DOMAIN_MAX: Final = 255
_COPY_NULL: Final = "\\N"
_COPY_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class InboxFull(Exception):
    """The inbox backlog is above MAILMON_INGEST_MAX_BACKLOG: the client must retry later."""


# ------------------------------------------------------------------ accepting a batch


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
    counts = dict.fromkeys(EVENT_TYPES, 0)
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
    # robust: the batch is committed, so nothing here may turn its 202 into an error.
    transaction.on_commit(_dispatch_processing, robust=True)
    return row[0]


DISPATCH_INTERVAL: Final = 0.25  # seconds between two publishes of one process
DISPATCH_RETRY: Final = 2.0  # seconds before trying the broker again after a failure


class _Dispatcher:
    """Publishes ``events.process_inbox`` from a thread of its own; a request only raises a flag.

    Publishing talks to Redis, and with Redis down kombu spends ~6 s failing to connect:
    inside the request that held every ingest answer (and, with sync workers, every
    other request of the process) for that long.  The batch is already durable, and a
    task drains the inbox until it is empty, so the request needs no more than "some
    dispatch will follow": :meth:`request` sets an Event (no I/O, no lock held), and this
    thread publishes at most once per DISPATCH_INTERVAL while the flag is up.  When
    Redis is down the flag stays up and the thread retries every DISPATCH_RETRY seconds;
    the beat sweep (every 10 s) covers a lost message too.
    """

    def __init__(self) -> None:
        self.pending = threading.Event()
        self._pid = 0
        self._start_lock = threading.Lock()
        self.failing = False

    def request(self) -> None:
        if self._pid != os.getpid():  # first use in this process (gunicorn forks workers)
            self._start()
        self.pending.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self.pending = threading.Event()
            threading.Thread(target=self._run, name="mailmon-inbox-dispatch", daemon=True).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            self.pending.wait()
            self.pending.clear()
            if self.publish():
                time.sleep(DISPATCH_INTERVAL)
            else:
                self.pending.set()  # try again: the batch still waits
                time.sleep(DISPATCH_RETRY)

    def publish(self) -> bool:
        from ..tasks import process_inbox

        try:
            process_inbox.apply_async(retry=False)
        except Exception:
            if not self.failing:  # once per outage, not once per batch
                log.warning("cannot dispatch process_inbox (broker down?); retrying, and the beat sweep "
                            "picks the batches up once it is back", exc_info=True)
            self.failing = True
            return False
        if self.failing:
            log.warning("dispatching process_inbox again")
        self.failing = False
        return True


_dispatcher = _Dispatcher()


def _dispatch_processing() -> None:
    if current_app.conf.task_always_eager:  # eager mode runs the task here and now, by definition
        _dispatcher.publish()
        return
    _dispatcher.request()


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


