"""Sending warmup mail, a chunk of sends at a time.

A chunk (``warmup.send_chunk``: the sends of one time slot of a cycle, a sender's sends side
by side) costs one Celery task, one query for its mailboxes, one Redis round trip for every
limit of every send, one SMTP session per sending account (connect, TLS and AUTH once,
sessions of different accounts side by side in threads) and one statement for its send-log
rows and day counters. What is left to do later — 4xx retries, sends waiting on a limit,
replies — goes back out as a few chunks (:func:`followups`).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from apps.core.redis import get_redis

from . import content, limiter, smtp
from .choices import MailboxStatus, SendOutcome
from .models import WarmupMailbox
from .services import mailbox_set_status, pairs_claim

log = logging.getLogger(__name__)

WAIT_SLOT = 5.0  # seconds: sends waiting on a limit go out again together, grouped this finely
REPLY_DELAY = (60.0, 600.0)  # seconds: a chunk's replies go out together, this long after it


class SendSpec(NamedTuple):
    """One send to make; as a list it is a chunk entry (JSON for the broker)."""

    sender: int
    recipient: int
    attempt: int = 1
    reply_to: str | None = None  # the Message-ID answered
    subject: str | None = None  # the subject answered


@dataclass(frozen=True)
class SendResult:
    outcome: str  # a SendOutcome, or "skipped" / "limited" / "wait"
    retry_in: float | None = None  # seconds: send again then
    message_id: str = ""
    reply: SendSpec | None = None  # the recipient's answer, to send later


# --- chunks ----------------------------------------------------------------------------------

def chunks_plan(entries: list[list]) -> list[tuple[int, list[list]]]:
    """One minute of a cycle (``[sender, recipient, offset]`` entries) → chunks
    ``(countdown, [[sender, recipient], …])``: one per ``MAILMON_WARMUP_CHUNK_SECONDS`` slot
    and at most ``MAILMON_WARMUP_CHUNK_SIZE`` sends, a sender's sends side by side."""
    seconds, size = settings.MAILMON_WARMUP_CHUNK_SECONDS, settings.MAILMON_WARMUP_CHUNK_SIZE
    slots: dict[int, list[list]] = defaultdict(list)
    for sender, recipient, offset in entries:
        slots[int(offset // seconds)].append([sender, recipient])
    chunks = []
    for slot, sends in sorted(slots.items()):
        sends.sort(key=lambda entry: entry[0])
        chunks += [(slot * seconds, sends[i : i + size]) for i in range(0, len(sends), size)]
    return chunks


def followups(sends: list[SendSpec], results: list[SendResult]) -> list[tuple[float, list[list]]]:
    """What a chunk leaves for later, as chunks ``(countdown, entries)``: 4xx retries (next
    attempt, one backoff per attempt number), sends waiting on a limit (same attempt, grouped
    by ``WAIT_SLOT``) and replies (together, ``REPLY_DELAY`` later)."""
    groups: dict[tuple, list[list]] = defaultdict(list)
    countdowns: dict[tuple, float] = {}
    for spec, result in zip(sends, results, strict=True):
        if result.retry_in is not None:
            if result.outcome == "wait":
                key, entry = ("wait", math.ceil(result.retry_in / WAIT_SLOT)), spec
            else:
                key, entry = ("retry", spec.attempt), spec._replace(attempt=spec.attempt + 1)
            countdowns[key] = max(countdowns.get(key, 0.0), result.retry_in)
            groups[key].append(list(entry))
        if result.reply is not None:
            countdowns.setdefault(("reply",), random.uniform(*REPLY_DELAY))
            groups[("reply",)].append(list(result.reply))
    size = settings.MAILMON_WARMUP_CHUNK_SIZE
    return [(round(countdowns[key], 3), entries[i : i + size])
            for key, entries in groups.items() for i in range(0, len(entries), size)]


# --- one chunk -------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _limiter_for(client_id: int) -> limiter.Limiter:
    return limiter.Limiter(get_redis())


def send_limits(mailbox: WarmupMailbox, recipient_provider: str, now: dt.datetime) -> list[limiter.Limit]:
    return [
        limiter.bucket("global:min", settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE, 60),
        limiter.bucket("global:hour", settings.MAILMON_WARMUP_GLOBAL_PER_HOUR, 3600),
        limiter.bucket(f"user:{mailbox.owner_id}", settings.MAILMON_WARMUP_USER_PER_HOUR, 3600),
        limiter.bucket(f"provider:{recipient_provider or '-'}", settings.MAILMON_WARMUP_PROVIDER_PER_HOUR, 3600),
        limiter.per_day(f"mailbox:{mailbox.pk}", mailbox.quota_for(now.date()), now),
    ]


def backoff(attempt: int) -> float:
    """Seconds before retry ``attempt`` + 1 after a 4xx: 1, 2, 4, 8 … minutes, with jitter."""
    return 60 * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)


def send_perform(
    *, sender_id: int, recipient_id: int, attempt: int = 1, reply_to: str | None = None, subject: str | None = None,
    now: dt.datetime | None = None,
) -> SendResult:
    """One send: :func:`sends_perform` with a chunk of one."""
    return sends_perform(sends=[SendSpec(sender_id, recipient_id, attempt, reply_to, subject)], now=now)[0]


def sends_perform(*, sends: list[SendSpec], now: dt.datetime | None = None) -> list[SendResult]:
    """Send a chunk of warmup messages, within every limit, and record what happened.

    One result per send, in order. 4xx and connection errors come back with ``retry_in``
    (until MAILMON_WARMUP_MAX_RETRIES), as do sends a limit holds back ("wait"); a send whose
    mailbox's day is full is dropped ("limited"); an authentication failure pauses the
    sender with the server's answer as the reason, and its other sends in the chunk are skipped.
    """
    now = now or timezone.now()
    boxes = WarmupMailbox.objects.select_related("sending_ip").in_bulk(
        {s.sender for s in sends} | {s.recipient for s in sends})
    book = _Book(now)
    results: list[SendResult | None] = [None] * len(sends)
    ready = []
    for index, spec in enumerate(sends):
        mailbox, recipient = boxes.get(spec.sender), boxes.get(spec.recipient)
        if mailbox is None or recipient is None or not mailbox.sends_now:
            results[index] = book.skip(spec.sender if mailbox else None)
        else:
            ready.append(index)
    waits = _limiter_for(id(get_redis())).acquire_many(
        [send_limits(boxes[sends[i].sender], boxes[sends[i].recipient].provider, now) for i in ready])
    go = []
    for index, wait in zip(ready, waits, strict=True):
        if wait > settings.MAILMON_WARMUP_INTERVAL:  # the mailbox's day is full: not today
            results[index] = book.skip(sends[index].sender, "limited")
        elif wait > 0:
            results[index] = SendResult("wait", retry_in=wait + random.uniform(0, 1))
        else:
            go.append(index)
    messages = {i: content.build_message(sender=boxes[sends[i].sender].address,
                                         recipient=boxes[sends[i].recipient].address,
                                         reply_to_message_id=sends[i].reply_to, reply_subject=sends[i].subject)
                for i in go}
    deliveries = _deliver(go, sends, boxes, messages)
    for index in go:
        results[index] = book.record(boxes[sends[index].sender], boxes[sends[index].recipient], sends[index],
                                     messages[index], deliveries[index])
    book.plan_replies(boxes, results)
    book.write()
    for index in go:
        _mailbox_effects(boxes[sends[index].sender], boxes[sends[index].recipient], sends[index], deliveries[index],
                         now)
    return results  # type: ignore[return-value]


# --- SMTP: one session per account, accounts side by side ------------------------------------

_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """One pool per process (a prefork child must not inherit its parent's threads)."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(settings.MAILMON_WARMUP_SMTP_PARALLEL, "warmup-smtp"))
    return _pool[1]


def _deliver(go: list[int], sends: list[SendSpec], boxes: dict, messages: dict) -> dict[int, smtp.Delivery | None]:
    sessions: dict[smtp.Account, list[int]] = defaultdict(list)
    for index in go:
        box = boxes[sends[index].sender]
        sessions[smtp.Account(box.smtp_host, box.smtp_port, box.smtp_security, box.username, box.password)].append(
            index)
    timeout = settings.MAILMON_WARMUP_SMTP_TIMEOUT

    def run(item: tuple[smtp.Account, list[int]]) -> list[smtp.Delivery | None]:
        account, indexes = item
        return smtp.deliver_many(account, [messages[i] for i in indexes], timeout=timeout)

    items = list(sessions.items())
    parallel = len(items) > 1 and settings.MAILMON_WARMUP_SMTP_PARALLEL > 1
    outcomes = _executor().map(run, items) if parallel else map(run, items)
    return {i: d for (_, indexes), found in zip(items, outcomes, strict=True)
            for i, d in zip(indexes, found, strict=True)}


# --- recording: one statement per chunk ------------------------------------------------------

OUTCOMES = {smtp.SENT: SendOutcome.SENT, smtp.AUTH: SendOutcome.AUTH_FAILED, smtp.PERMANENT: SendOutcome.FAILED}
LOG_COLUMNS = (
    ("time", "timestamptz"), ("mailbox_id", "bigint"), ("owner_user_id", "bigint"), ("recipient", "text"),
    ("recipient_provider", "text"), ("message_id", "text"), ("outcome", "text"), ("smtp_code", "smallint"),
    ("smtp_response", "text"), ("duration_ms", "int"), ("is_reply", "bool"), ("attempt", "smallint"),
)
RECORD_SQL = (
    "WITH log AS (INSERT INTO warmup_warmupsend ({columns}) SELECT * FROM unnest({arrays})), "
    # planned going down (sends skipped or dropped): rows the cycle created; no insert needed
    "down AS (UPDATE warmup_warmupday w SET planned = GREATEST(0, w.planned + u.p), sent = w.sent + u.s, "
    "failed = w.failed + u.f FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) AS u(m, p, s, f) "
    "WHERE w.mailbox_id = u.m AND w.day = %s) "
    "INSERT INTO warmup_warmupday (mailbox_id, day, target, seq, planned, sent, failed, inbox, spam) "
    "SELECT m, %s, 0, 0, p, s, f, 0, 0 FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) AS u(m, p, s, f) "
    "ORDER BY m ON CONFLICT (mailbox_id, day) DO UPDATE SET planned = warmup_warmupday.planned + EXCLUDED.planned, "
    "sent = warmup_warmupday.sent + EXCLUDED.sent, failed = warmup_warmupday.failed + EXCLUDED.failed"
).format(columns=", ".join(name for name, _ in LOG_COLUMNS),
         arrays=", ".join(f"%s::{kind}[]" for _, kind in LOG_COLUMNS))


class _Book:
    """A chunk's send-log rows and day-counter deltas (planned, sent, failed per mailbox)."""

    def __init__(self, now: dt.datetime) -> None:
        self.day = now.date()
        self.rows: list[tuple] = []
        self.counts: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.replies: list[SendSpec] = []  # candidates, before their pairs are claimed

    def skip(self, sender_id: int | None, outcome: str = "skipped") -> SendResult:
        if sender_id is not None:
            self.counts[sender_id][0] -= 1  # planned but not sent: the next cycle plans it again
        return SendResult(outcome)

    def record(self, mailbox, recipient, spec: SendSpec, message, delivery: smtp.Delivery | None) -> SendResult:
        if delivery is None:  # not attempted: the session's authentication failed on an earlier send
            return self.skip(mailbox.pk)
        message_id = message["Message-ID"]
        retry = delivery.kind == smtp.TEMPORARY and spec.attempt <= settings.MAILMON_WARMUP_MAX_RETRIES
        outcome = OUTCOMES.get(delivery.kind) or (SendOutcome.DEFERRED if delivery.code else SendOutcome.ERROR)
        sent = delivery.kind == smtp.SENT
        self.rows.append((timezone.now(), mailbox.pk, mailbox.owner_id, recipient.address, recipient.provider,
                          message_id, outcome, delivery.code, delivery.response, delivery.duration_ms,
                          spec.reply_to is not None, spec.attempt))
        self.counts[mailbox.pk][1] += sent
        self.counts[mailbox.pk][2] += not sent and not retry
        if sent and spec.reply_to is None and random.random() < settings.MAILMON_WARMUP_REPLY_SHARE:
            self.replies.append(SendSpec(recipient.pk, mailbox.pk, 1, message_id, message["Subject"]))
        return SendResult(outcome, retry_in=backoff(spec.attempt) if retry else None, message_id=message_id)

    def plan_replies(self, boxes: dict, results: list) -> None:
        """Replies from recipients that may send, for pairs not yet used today (one Redis round trip)."""
        wanted = [spec for spec in self.replies if boxes[spec.sender].sends_now and boxes[spec.sender].password]
        if not wanted:
            return
        claimed = pairs_claim(self.day, [(spec.sender, spec.recipient) for spec in wanted])
        by_message = {result.message_id: i for i, result in enumerate(results) if result and result.message_id}
        for spec, ok in zip(wanted, claimed, strict=True):
            if ok:
                self.counts[spec.sender][0] += 1  # the reply is planned in its sender's day
                index = by_message[spec.reply_to]
                results[index] = SendResult(results[index].outcome, message_id=spec.reply_to, reply=spec)

    def write(self) -> None:
        if not (self.rows or self.counts):
            return

        def arrays(rows: list[tuple], width: int) -> list[list]:
            return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]

        down = sorted((m, *c) for m, c in self.counts.items() if c[0] < 0)
        up = sorted((m, *c) for m, c in self.counts.items() if c[0] >= 0)
        _execute_retrying(RECORD_SQL, [*arrays(self.rows, len(LOG_COLUMNS)), *arrays(down, 4), self.day, self.day,
                                       *arrays(up, 4)])


def _execute_retrying(sql: str, params: list, attempts: int = 3) -> None:
    """Run one statement; outside a transaction block a deadlock with another chunk (rows
    locked in another order) runs it again — the statement was rolled back as a whole."""
    for attempt in range(attempts):
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
            return
        except OperationalError as exc:
            deadlock = getattr(exc.__cause__, "sqlstate", None) == "40P01"
            if not deadlock or connection.in_atomic_block or attempt == attempts - 1:
                raise


# --- what a send's outcome does to its mailbox (rare: failures, recoveries) --------------------

def _note_error(mailbox: WarmupMailbox, text: str, now: dt.datetime, status: str | None = None) -> None:
    updates = {"last_error": text[:2000], "last_error_at": now}
    if status:
        updates["status"] = mailbox.status = status
    WarmupMailbox.objects.filter(pk=mailbox.pk).update(**updates)


def _mailbox_effects(mailbox, recipient, spec: SendSpec, delivery: smtp.Delivery | None, now: dt.datetime) -> None:
    if delivery is None:
        return
    if delivery.kind == smtp.SENT:
        if mailbox.status == MailboxStatus.FAILING:
            mailbox_set_status(mailbox=mailbox, status=MailboxStatus.ACTIVE)
        return
    error = f"{delivery.code or ''} {delivery.response}".strip()
    if delivery.kind == smtp.TEMPORARY and spec.attempt <= settings.MAILMON_WARMUP_MAX_RETRIES:
        _note_error(mailbox, error, now)
        return
    with transaction.atomic():
        if delivery.kind == smtp.AUTH:
            _note_error(mailbox, error, now)
            mailbox_set_status(mailbox=mailbox, status=MailboxStatus.PAUSED,
                               reason=f"SMTP authentication failed: {error}"[:255])
        else:
            _note_error(mailbox, error, now, MailboxStatus.FAILING if delivery.kind == smtp.TEMPORARY else None)
    log.warning("warmup send %s -> %s: %s %s", mailbox.address, recipient.address,
                OUTCOMES.get(delivery.kind, "deferred"), error[:200])
