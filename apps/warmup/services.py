"""Writes about warmup: mailboxes, the engine switch, planning cycles, day counters and cleanup
(sending: ``services_send``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.core import timeseries
from apps.core.audit import audit_record, snapshot
from apps.core.redis import get_redis

from . import planner, providers
from .models import WarmupDay, WarmupEngine, WarmupMailbox, WarmupSend

log = logging.getLogger(__name__)

EDITABLE = [
    "address", "smtp_host", "smtp_port", "smtp_security", "username", "password", "imap_host", "imap_port",
    "imap_security", "imap_username", "imap_password", "enabled", "daily_target", "ramp_start", "ramp_increase",
    "ramp_ceiling", "sending_ip",
]
SECRETS = ("password", "imap_password")


# --- mailboxes -------------------------------------------------------------------------------

def provider_detect(domain: str) -> str:
    return providers.provider_for_domain(
        domain, nameservers=settings.MAILMON_WARMUP_NAMESERVERS, timeout=settings.MAILMON_WARMUP_DNS_TIMEOUT
    )


def _apply(mailbox: WarmupMailbox, fields: dict) -> None:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        if name in SECRETS and not value:
            continue  # write-only: an empty value keeps the stored secret
        setattr(mailbox, name, value)


def mailbox_create(*, owner, actor, provider: str | None = None, **fields) -> WarmupMailbox:
    """Register a mailbox for warmup; its provider comes from its domain's MX hosts."""
    mailbox = WarmupMailbox(owner=owner)
    _apply(mailbox, fields)
    mailbox.full_clean()
    mailbox.provider = provider or provider_detect(mailbox.domain)
    mailbox.save()
    audit_record(actor=actor, action="warmup_mailbox.create", obj=mailbox, after=snapshot(mailbox))
    return mailbox


def mailbox_update(*, mailbox: WarmupMailbox, actor, **fields) -> WarmupMailbox:
    before = snapshot(mailbox)
    old_domain = mailbox.domain
    _apply(mailbox, fields)
    mailbox.full_clean()
    if mailbox.domain != old_domain:
        mailbox.provider = provider_detect(mailbox.domain)
    mailbox.save()
    audit_record(actor=actor, action="warmup_mailbox.change", obj=mailbox, before=before, after=snapshot(mailbox))
    return mailbox


def mailbox_delete(*, mailbox: WarmupMailbox, actor) -> None:
    before, pk = snapshot(mailbox), str(mailbox.pk)
    mailbox.delete()
    audit_record(actor=actor, action="warmup_mailbox.delete", object_type="warmup.warmupmailbox", object_id=pk,
                 before=before)


def mailbox_imap_checked(*, mailbox: WarmupMailbox, error: str, now: dt.datetime) -> None:
    """Record an IMAP engagement run: ``error`` says why it failed (empty: it worked). Not
    audited, like SMTP errors: it is what happened, not a change anyone made."""
    mailbox.imap_error, mailbox.imap_checked_at = error[:2000], now
    WarmupMailbox.objects.filter(pk=mailbox.pk).update(imap_error=mailbox.imap_error, imap_checked_at=now)


def mailbox_set_status(*, mailbox: WarmupMailbox, status: str, reason: str = "", actor=None) -> WarmupMailbox:
    """Pause (with a reason), resume or mark failing; audited when it changes anything."""
    if mailbox.status == status and mailbox.status_reason == reason:
        return mailbox
    before = snapshot(mailbox, ["status", "status_reason"])
    mailbox.status, mailbox.status_reason = status, reason[:255]
    mailbox.save(update_fields=["status", "status_reason", "updated_at"])
    audit_record(actor=actor, action=f"warmup_mailbox.{status}", obj=mailbox, before=before,
                 after={"status": status, "status_reason": mailbox.status_reason}, reason=reason[:255])
    return mailbox


CSV_COLUMNS = ["address", "smtp_host", "smtp_port", "smtp_security", "username", "password", "daily_target",
               "enabled", "imap_host", "imap_port", "imap_security", "imap_username", "imap_password"]
REQUIRED_COLUMNS = {"address", "smtp_host", "smtp_port", "username", "password"}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"line", "address", "field", "error"}
    rows: int = 0


def _csv_value(name: str, raw: str):
    raw = (raw or "").strip()
    if name in {"smtp_port", "imap_port", "daily_target"}:
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValidationError({name: f"expected a whole number, got {raw!r}"}) from None
    if name == "enabled":
        if raw.lower() in {"", "1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise ValidationError({name: f"expected true or false, got {raw!r}"})
    return raw


def mailboxes_import(*, owner, actor, text: str, dry_run: bool = False) -> ImportReport:
    """Create one mailbox per valid CSV row (header row required); invalid rows are reported
    line by line, naming the field, and skipped; valid rows are kept either way."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        _mailboxes_import_rows(report, reader, owner=owner, actor=actor, dry_run=dry_run)
    except csv.Error as exc:  # unreadable CSV from here on: what was read is kept and reported
        report.errors.append({"line": reader.line_num, "address": "", "field": "file", "error": f"not CSV: {exc}"})
    return report


def _mailboxes_import_rows(report: ImportReport, reader: csv.DictReader, *, owner, actor, dry_run: bool) -> None:
    header = {(name or "").strip() for name in reader.fieldnames or []}
    missing = REQUIRED_COLUMNS - header
    if missing:
        report.errors.append({"line": 1, "address": "", "field": ", ".join(sorted(missing)),
                              "error": "missing column(s); expected " + ",".join(CSV_COLUMNS)})
        return
    seen: set[str] = set()
    providers_seen: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        report.rows += 1
        row = {(k or "").strip(): v for k, v in row.items()}
        address = (row.get("address") or "").strip().lower()
        try:
            if address in seen:
                raise ValidationError({"address": "appears twice in this file"})
            seen.add(address)
            fields = {n: _csv_value(n, row[n]) for n in CSV_COLUMNS if n in row and row[n] is not None}
            fields = {k: v for k, v in fields.items() if v is not None and not (k not in SECRETS and v == "")}
            domain = address.rsplit("@", 1)[-1]
            if domain not in providers_seen:  # one MX lookup per domain, not per row
                providers_seen[domain] = provider_detect(domain) if "@" in address else ""
            with transaction.atomic():
                mailbox_create(owner=owner, actor=actor, provider=providers_seen[domain] or None, **fields)
                if dry_run:
                    transaction.set_rollback(True)
            report.created.append(address)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                report.errors.append({"line": line, "address": address, "field": name, "error": " ".join(messages)})


# --- engine ----------------------------------------------------------------------------------

def engine_set_running(*, running: bool, actor) -> WarmupEngine:
    engine = WarmupEngine.load()
    if engine.running != running:
        engine.running = running
        engine.changed_by = getattr(actor, "username", "") or "system"
        engine.changed_at = timezone.now()
        engine.save()
        audit_record(actor=actor, action="warmup.start" if running else "warmup.stop", obj=engine)
    return engine


def _day_start(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date(), dt.time.min, tzinfo=dt.UTC)


@dataclass
class Cycle:
    sends: list[planner.PlannedSend]
    repeated: int
    seconds: float


def _pairs_key(day: dt.date, sender: int) -> str:
    return f"warmup:pairs:{day:%Y%m%d}:{sender}"


PAIRS_SCRIPT = """
local out, seen = {}, {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('SADD', key, ARGV[i + 1])
  if not seen[key] then seen[key] = true; redis.call('EXPIRE', key, ARGV[1]) end
end
return out
"""
PAIRS_PER_CALL = 5000  # a call holds Redis for a few milliseconds at most


@lru_cache(maxsize=1)
def _pairs_script(client_id: int):
    return get_redis().register_script(PAIRS_SCRIPT)


def pairs_claim(day: dt.date, pairs: list[tuple[int, int]]) -> list[bool]:
    """Record today's sender → recipient pairs in Redis (SADD, each key expiring after two
    days); False where already used. One script call per 5,000 pairs instead of two commands
    per pair: a 100,000-mailbox cycle claims ~30,000 pairs."""
    script = _pairs_script(id(get_redis()))
    claimed: list[bool] = []
    for start in range(0, len(pairs), PAIRS_PER_CALL):
        part = pairs[start : start + PAIRS_PER_CALL]
        added = script(keys=[_pairs_key(day, sender) for sender, _ in part],
                       args=[2 * 86400, *(recipient for _, recipient in part)])
        claimed += [bool(value) for value in added]
    return claimed


def _load_senders(day: dt.date) -> tuple[list[planner.Sender], dict[int, int | None], planner.Ring]:
    """Senders with today's counters, today's recorded target per sender (None: no row yet), the ring."""
    rows = WarmupMailbox.objects.sending().values_list(
        "id", "owner_id", "daily_target", "ramp_start", "ramp_increase", "ramp_ceiling", "started_on"
    )
    counts = {m: (p, f, s, t) for m, p, f, s, t in
              WarmupDay.objects.filter(day=day).values_list("mailbox_id", "planned", "failed", "seq", "target")}
    senders, targets = [], {}
    for mailbox_id, owner_id, target, start, increase, ceiling, started_on in rows.iterator(chunk_size=20000):
        planned, failed, seq, targets[mailbox_id] = counts.get(mailbox_id, (0, 0, 0, None))
        quota = planner.quota(target, start, increase, ceiling, (day - started_on).days)
        senders.append(planner.Sender(mailbox_id, owner_id, quota, planned, failed, seq))
    participants = list(WarmupMailbox.objects.receiving().values_list("id", "provider").iterator(chunk_size=20000))
    return senders, targets, planner.build_ring(participants, day)


def _days_add(day: dt.date, rows: dict[int, tuple[int, int, int]]) -> None:
    """Add (target, seq, planned) per mailbox to the day's counters: one statement."""
    if not rows:
        return
    ids = list(rows)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO warmup_warmupday (mailbox_id, day, target, seq, planned, sent, failed, inbox, spam) "
            "SELECT m, %s, t, s, p, 0, 0, 0, 0 FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[]) "
            "AS u(m, t, s, p) ON CONFLICT (mailbox_id, day) DO UPDATE SET target = EXCLUDED.target, "
            "seq = warmup_warmupday.seq + EXCLUDED.seq, planned = warmup_warmupday.planned + EXCLUDED.planned",
            [day, ids, [rows[i][0] for i in ids], [rows[i][1] for i in ids], [rows[i][2] for i in ids]],
        )


def cycle_caps(interval: float) -> dict[str, int]:
    """What the global and per-user limits let through in one interval."""
    return {
        "global_cap": int(min(settings.MAILMON_WARMUP_GLOBAL_PER_MINUTE * interval / 60,
                              settings.MAILMON_WARMUP_GLOBAL_PER_HOUR * interval / 3600)),
        "user_cap": max(1, int(settings.MAILMON_WARMUP_USER_PER_HOUR * interval / 3600)),
    }


def cycle_plan(*, now: dt.datetime | None = None, seed: int | None = None) -> Cycle:
    """Plan one cycle and record it (day counters, pairs); the caller enqueues ``sends``."""
    started = time.monotonic()
    now = now or timezone.now()
    day = now.date()
    senders, targets, ring = _load_senders(day)
    sends = planner.plan_cycle(
        senders, ring,
        seconds_into_day=(now - _day_start(now)).total_seconds(),
        interval=settings.MAILMON_WARMUP_INTERVAL,
        max_catchup=settings.MAILMON_WARMUP_MAX_CATCHUP,
        **cycle_caps(settings.MAILMON_WARMUP_INTERVAL),
        seed=seed,
    )
    fresh = pairs_claim(day, [(s.sender, s.recipient) for s in sends])
    kept = [s for s, ok in zip(sends, fresh, strict=True) if ok]
    quotas = {s.id: s.quota for s in senders}
    # a row per sender with something new: sends, or a target to record (most senders send
    # nothing in a given cycle: their rows are left alone)
    rows = {s.id: (s.quota, 0, 0) for s in senders if targets[s.id] != s.quota}
    for send, ok in zip(sends, fresh, strict=True):
        target, seq, planned = rows.get(send.sender, (0, 0, 0))
        rows[send.sender] = (quotas[send.sender], seq + 1, planned + ok)
    _days_add(day, rows)
    return Cycle(sends=kept, repeated=len(sends) - len(kept), seconds=time.monotonic() - started)


BATCH_SECONDS = 60
BATCH_SIZE = 1000


def cycle_batches(sends: list[planner.PlannedSend]) -> list[tuple[int, list[list]]]:
    """Group sends into per-minute batches: (countdown of the batch, [[sender, recipient, offset]])."""
    slots: dict[int, list[list]] = {}
    for send in sends:
        slot = int(send.offset // BATCH_SECONDS)
        slots.setdefault(slot, []).append([send.sender, send.recipient, round(send.offset - slot * BATCH_SECONDS, 3)])
    batches = []
    for slot, entries in sorted(slots.items()):
        for start in range(0, len(entries), BATCH_SIZE):
            batches.append((slot * BATCH_SECONDS, entries[start : start + BATCH_SIZE]))
    return batches


def cycle_run(*, now: dt.datetime | None = None, force: bool = False) -> Cycle | None:
    """The beat task's work: plan the cycle (unless the engine is stopped) and enqueue it."""
    from . import tasks

    engine = WarmupEngine.load()
    if not engine.running and not force:
        return None
    now = now or timezone.now()
    timeseries.ensure_partitions(WarmupSend._meta.db_table, [now.date(), now.date() + dt.timedelta(days=1)])
    with transaction.atomic():
        cycle = cycle_plan(now=now)
        batches = cycle_batches(cycle.sends)
        transaction.on_commit(lambda: [tasks.dispatch_batch.apply_async(args=[entries], countdown=countdown)
                                       for countdown, entries in batches])
    WarmupEngine.objects.filter(pk=engine.pk).update(
        last_cycle_at=now, last_cycle_planned=len(cycle.sends), last_cycle_ms=int(cycle.seconds * 1000)
    )
    log.info("warmup cycle: %d sends planned (%d repeated pairs skipped) in %.2fs",
             len(cycle.sends), cycle.repeated, cycle.seconds)
    return cycle


# --- day counters ----------------------------------------------------------------------------

COUNTERS = ("target", "seq", "planned", "sent", "failed", "inbox", "spam")


def day_counts_add(*, mailbox_id: int, day: dt.date, **deltas: int) -> None:
    """Add to a mailbox's counters for ``day`` (creating the row): one statement, safe under concurrency."""
    values = {name: max(0, deltas.get(name, 0)) for name in COUNTERS}
    updates = ", ".join(f"{c} = GREATEST(0, warmup_warmupday.{c} + %s)" for c in deltas)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO warmup_warmupday (mailbox_id, day, {', '.join(COUNTERS)}) "
            f"VALUES (%s, %s, {', '.join(['%s'] * len(COUNTERS))}) "
            f"ON CONFLICT (mailbox_id, day) DO UPDATE SET {updates}",
            [mailbox_id, day, *values.values(), *deltas.values()],
        )


# --- housekeeping ----------------------------------------------------------------------------

def cleanup(*, now: dt.datetime | None = None) -> dict:
    """Drop send-log partitions older than their retention, day counters older than theirs."""
    now = now or timezone.now()
    result = timeseries.maintain({WarmupSend._meta.db_table: settings.MAILMON_WARMUP_SEND_RETENTION_DAYS})
    cutoff = now.date() - dt.timedelta(days=settings.MAILMON_WARMUP_METRICS_RETENTION_DAYS)
    deleted, _ = WarmupDay.objects.filter(day__lt=cutoff).delete()
    return {"sends": result, "days_deleted": deleted}
