# ruff: noqa: E501  (Postfix log lines are long)
"""Throughput of the Postfix shipper's parser (agent/mailmon_postfix.py): log lines -> events.

Run from the repository root: ``.venv/bin/python bench/postfix_parse.py``.  Prints one JSON line.

The log is synthetic but built from real line shapes: per message an smtpd connect/client/
disconnect, cleanup message-id, qmgr from=, one to three delivery lines (sent, deferred,
bounced, IPv4 and IPv6 relays), qmgr removed, and an unrelated daemon's line, so about a
third of the lines make an event, as on a busy relay.  Best of several repetitions.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

import mailmon_postfix  # noqa: E402

MESSAGES = 20_000
REPEATS = 3
OUTCOMES = [
    "relay=mx{n}.example.net[203.0.113.{n}]:25, delay=0.8, delays=0.1/0/0.3/0.4, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {qid}X)",
    "relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx{n}.example.org[198.51.100.{n}]:25: Connection refused)",
    "relay=mx.example.com[2001:db8::{n}]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host mx.example.com[2001:db8::{n}] said: 550 5.1.1 <u{n}@example.com>: User unknown (in reply to RCPT TO command))",
]


def synthetic_log(rng: random.Random) -> list[str]:
    lines = []
    for i in range(MESSAGES):
        qid, n, stamp = f"{i:010X}", rng.randint(1, 250), "Nov 25 10:00:00 mx1"
        lines += [
            f"{stamp} postfix/smtpd[100]: connect from app[192.0.2.{n}]",
            f"{stamp} postfix/smtpd[100]: {qid}: client=app[192.0.2.{n}]",
            f"{stamp} postfix/cleanup[101]: {qid}: message-id=<{i}@app.example.com>",
            f"{stamp} postfix/qmgr[102]: {qid}: from=<news@example.com>, size={rng.randint(900, 90000)}, nrcpt=2 (queue active)",
            f"{stamp} postfix/smtpd[100]: disconnect from app[192.0.2.{n}] ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6",
            f"{stamp} dovecot: imap(u{n}@example.com): Logged out in=12 out=345",
        ]
        for r in range(rng.randint(1, 3)):
            outcome = rng.choice(OUTCOMES).format(n=n, qid=qid)
            lines.append(f"{stamp} postfix/smtp[103]: {qid}: to=<r{r}.{i}@example.net>, {outcome}")
        lines.append(f"{stamp} postfix/qmgr[102]: {qid}: removed")
    return [line + "\n" for line in lines]


def main() -> None:
    lines = synthetic_log(random.Random(7))
    best, events = float("inf"), 0
    for _ in range(REPEATS):
        parser = mailmon_postfix.PostfixParser("mx1.example.com")
        started = time.perf_counter()
        events = sum(len(parser.feed(line)) for line in lines)
        best = min(best, time.perf_counter() - started)
    print(json.dumps({"bench": "postfix_parse", "lines": len(lines), "events": events,
                      "lines_per_s": round(len(lines) / best), "events_per_s": round(events / best)}))  # fmt: skip


if __name__ == "__main__":
    main()
