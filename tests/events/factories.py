"""Event rows for rollup, selector and API tests, stored the way the ingest worker stores them."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from django.db import connection, transaction

from apps.core import timeseries
from apps.events.rollups import rollups_apply, rollups_refresh

COLUMNS = (
    "time", "event_id", "type", "node_id", "sending_ip", "message_id", "sender", "sender_domain", "recipient",
    "recipient_domain", "mx_host", "status_code", "enhanced_status", "response", "delay_ms", "bounce_category",
    "size", "account",
)  # fmt: skip
_seq = itertools.count(1)

OUTCOMES = [
    # type, code, enhanced, category, response
    ("delivered", 250, "2.0.0", "", "250 2.0.0 OK 1764064800 a1b2c3 - gsmtp"),
    ("deferred", 421, "4.7.28", "rate_limited", "421-4.7.28 Our system has detected an unusual rate of mail"),
    ("deferred", 421, "4.7.0", "spam_block", "421 4.7.0 [TSS04] Messages temporarily deferred"),
    ("bounced", 550, "5.1.1", "invalid_recipient", "550-5.1.1 The email account that you tried to reach does not"),
    ("bounced", 552, "5.2.2", "mailbox_full", "552 5.2.2 Mailbox full"),
    ("rejected", 550, "5.7.1", "spam_block", "550 5.7.1 Service unavailable; Client host blocked using S3150"),
    ("queued", None, "", "", ""),
    ("complained", None, "", "", ""),
]


def event(*, time: dt.datetime, node_id: int, **fields: Any) -> dict[str, Any]:
    """One event row (storage column names) with sensible defaults."""
    n = next(_seq)
    row = {
        "time": time,
        "event_id": f"ev-{n}",
        "type": "delivered",
        "node_id": node_id,
        "sending_ip": "198.51.100.1",
        "message_id": f"<m{n}@example.com>",
        "sender": "news@shop.example",
        "sender_domain": "shop.example",
        "recipient": f"user{n}@gmail.com",
        "recipient_domain": "gmail.com",
        "mx_host": "",
        "status_code": 250,
        "enhanced_status": "2.0.0",
        "response": "250 OK",
        "delay_ms": 1200,
        "bounce_category": "",
        "size": 2048,
        "account": "",
    }
    row.update(fields)
    return row


def random_events(
    *, count: int, start: dt.datetime, span: dt.timedelta, node_ids: list[int], ips: list[str], seed: int = 1
) -> list[dict[str, Any]]:
    """A reproducible mix of types, domains, IPs and log-normal delays spread over [start, start+span)."""
    rng = random.Random(seed)
    domains = ["gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "example.org"]
    senders = ["shop.example", "news.example", "bank.example"]
    rows = []
    for _ in range(count):
        kind, code, enhanced, category, response = rng.choices(OUTCOMES, [70, 6, 4, 5, 2, 3, 8, 2])[0]
        delay = int(rng.lognormvariate(7.5, 1.6)) if kind in {"delivered", "deferred", "bounced"} else None
        if delay is not None and rng.random() < 0.05:
            delay = None  # some MTAs do not report one
        rows.append(
            event(
                time=start + dt.timedelta(seconds=rng.uniform(0, span.total_seconds())),
                node_id=rng.choice(node_ids),
                sending_ip=rng.choice(ips + [None]) if rng.random() < 0.03 else rng.choice(ips),
                sender_domain=rng.choice(senders),
                recipient_domain=rng.choices(domains, [40, 25, 15, 8, 7, 5])[0],
                type=kind,
                status_code=code,
                enhanced_status=enhanced,
                bounce_category=category,
                response=response + f" id{rng.randrange(5)}" if response else "",
                delay_ms=delay,
            )
        )
    return rows


def store_events(rows: list[dict[str, Any]], *, refresh: bool = True) -> int:
    """Store rows like the ingest worker: ON CONFLICT DO NOTHING into events, new rows into
    ``_inserted``, then ``rollups_apply`` in the same transaction; then, unless ``refresh``
    is False, what the beat task does next (``rollups_refresh``). Returns rows newly stored."""
    days = {row["time"].astimezone(dt.UTC).date() for row in rows}
    timeseries.ensure_partitions("events_emailevent", days)
    columns = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE _staging (LIKE events_emailevent) ON COMMIT DROP")
        cursor.executemany(
            f"INSERT INTO _staging ({columns}, id) VALUES ({', '.join(['%s'] * len(COLUMNS))}, 0)",
            [[row[c] for c in COLUMNS] for row in rows],
        )
        cursor.execute("CREATE TEMP TABLE _inserted (LIKE events_emailevent) ON COMMIT DROP")
        cursor.execute(
            f"WITH ins AS (INSERT INTO events_emailevent ({columns}) SELECT {columns} FROM _staging "
            "ON CONFLICT DO NOTHING RETURNING *) INSERT INTO _inserted SELECT * FROM ins"
        )
        cursor.execute("SELECT count(*) FROM _inserted")
        stored = cursor.fetchone()[0]
        rollups_apply(cursor=cursor, source="_inserted")
        # Tests run inside one transaction, where ON COMMIT never comes.
        cursor.execute("DROP TABLE _staging, _inserted")
    if refresh:
        rollups_refresh()
    return stored
