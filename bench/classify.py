"""Micro-benchmark of the bounce classifier (apps.events.classification.classify).

Run from the repository root: ``.venv/bin/python bench/classify.py``.  Prints one JSON line.

The 100,000 events are failures only (a 2xx returns before any work, so mixing in
deliveries would flatter the number), drawn from real response templates with a
rough real-world mix: mostly unknown users and quota, then throttling, reputation,
authentication, connection/DNS and content failures.  Variable parts (IPs, addresses,
Gmail/Outlook tracking ids) are randomised per event, so nothing can be cached by text.
Half of the events carry the codes the agent parsed, half only the raw text, so code
inference is exercised too.  Timing is the best of several repetitions, which filters
out scheduler noise on shared CI machines.
"""

from __future__ import annotations

import json
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.events.classification import classify, default_rules  # noqa: E402

EVENTS = 100_000
REPEATS = 5
SEED = 1234

Event = tuple[int | None, str | None, str]

# (weight, status, enhanced, template).  Placeholders: {ip} {rcpt} {gid} {msid} {host}.
_TEMPLATES: list[tuple[float, int | None, str | None, str]] = [
    (
        12,
        550,
        "5.1.1",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
        "550-5.1.1 double-checking the recipient's email address for typos or\n550-5.1.1 unnecessary "
        "spaces. For more information, go to\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {gid}",
    ),
    (6, 550, "5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    (
        4,
        550,
        "5.1.1",
        "host {host}[{ip}] said: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown "
        "in local recipient table (in reply to RCPT TO command)",
    ),
    (3, 550, "5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"),
    (5, 550, "5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [{msid}]"),
    (
        3,
        554,
        None,
        "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [0] - mta1045.mail.ne1.yahoo.com",
    ),
    (2, 550, None, "SMTP error from remote mail server after RCPT TO:<{rcpt}>: 550 Unrouteable address"),
    (
        4,
        452,
        "4.2.2",
        "452-4.2.2 The email account that you tried to reach is over quota. Please direct "
        "the recipient to https://support.google.com/mail/?p=OverQuotaTemp {gid}",
    ),
    (2, 552, "5.2.2", "552 5.2.2 <{rcpt}> Quota exceeded (mailbox for user is full)"),
    (1, 552, None, "552 1 Requested mail action aborted, mailbox full"),
    (
        5,
        421,
        "4.7.28",
        "421-4.7.28 [{ip}      15] Our system has detected an unusual rate of unsolicited "
        "mail originating from your IP address. To protect our users from spam, mail sent from your IP "
        "address has been temporarily rate limited. Please visit "
        "https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders "
        "Guidelines. {gid}",
    ),
    (
        5,
        421,
        "4.7.0",
        "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    ),
    (4, 451, "4.7.500", "451 4.7.500 Server busy. Please try again later from [{ip}]. (S77719) [{msid}]"),
    (
        2,
        450,
        "4.2.1",
        "450-4.2.1 The user you are trying to contact is receiving mail at a rate that "
        "prevents additional messages from being delivered. Please resend your message at a later time. "
        "If the user is able to receive mail at that time, your message will be delivered. For more "
        "information, go to https://support.google.com/mail/?p=ReceivingRate {gid}",
    ),
    (1, 421, None, "421 Too many concurrent SMTP connections from one IP address; please try again later."),
    (
        2,
        450,
        "4.2.0",
        "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/example.org.html",
    ),
    (
        4,
        550,
        "5.7.1",
        "550-5.7.1 [{ip}      12] Our system has detected that this message is likely "
        "unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. "
        "Please visit https://support.google.com/mail/?p=UnsolicitedMessageError to review our Bulk Email "
        "Senders Guidelines. {gid}",
    ),
    (
        3,
        550,
        "5.7.1",
        "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150). You can also "
        "refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [{msid}]",
    ),
    (
        3,
        554,
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; "
        "https://www.spamhaus.org/query/ip/{ip}",
    ),
    (
        1,
        550,
        "5.7.708",
        "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. "
        "For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7080) [{msid}]",
    ),
    (
        2,
        421,
        "4.7.0",
        "421-4.7.0 [{ip}      15] Our system has detected that this message is suspicious "
        "due to the very low reputation of the sending IP address. To best protect our users from spam, the "
        "message has been blocked. Please visit https://support.google.com/mail/answer/188131 for more "
        "information. {gid}",
    ),
    (
        3,
        550,
        "5.7.26",
        "550-5.7.26 This mail is unauthenticated, which poses a security risk to the sender "
        "and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or "
        "DKIM. For this message, DKIM checks did not pass and SPF check for [example.com] did not pass "
        "with ip: [{ip}]. To best protect our users from spam, the message has been blocked. Please visit "
        "https://support.google.com/mail/answer/81126#authentication for more information. {gid}",
    ),
    (
        1,
        550,
        "5.7.509",
        "550 5.7.509 Access denied, sending domain example.com does not pass DMARC "
        "verification and has a DMARC policy of reject. [{msid}]",
    ),
    (
        1,
        554,
        "5.7.9",
        "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
    ),
    (
        1,
        550,
        None,
        "550 SPF check failed. Please see "
        "http://www.open-spf.org/Why?scope=mfrom;identity=bounces@sender.example;ip={ip}",
    ),
    (4, None, "4.4.1", "connect to {host}[{ip}]:25: Connection timed out"),
    (2, None, "4.4.1", "connect to {host}[{ip}]:25: Connection refused"),
    (1, None, "4.4.2", "lost connection with {host}[{ip}] while receiving the initial server greeting"),
    (1, None, None, "retry timeout exceeded"),
    (1, None, None, "all hosts for 'example.com' have been failing for a long time (and retry time not reached)"),
    (
        2,
        None,
        "5.4.4",
        "Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found",
    ),
    (1, 450, "4.1.2", "450 4.1.2 <{rcpt}>: Recipient address rejected: Domain not found"),
    (1, 552, "5.3.4", "552 5.3.4 Message size exceeds fixed maximum message size"),
    (
        1,
        552,
        "5.7.0",
        "552-5.7.0 This message was blocked because its content presents a potential security "
        "issue. Please visit https://support.google.com/mail/?p=BlockedMessage to review our message content "
        "and attachment content guidelines. {gid}",
    ),
    (0.5, 554, "5.3.0", "554 5.3.0 Other mail system problem"),
    (0.5, 451, None, "451 Temporary local problem - please try later"),
]


def _token(rng: random.Random, size: int, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    return "".join(rng.choices(alphabet, k=size))


def _fill(template: str, rng: random.Random) -> str:
    ip = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return template.format(
        ip=ip,
        rcpt=f"{_token(rng, rng.randint(4, 12))}@{rng.choice(['example.org', 'example.net', 'mail.example.com'])}",
        gid=f"{_token(rng, 13)}-{_token(rng, 20)}.{rng.randint(1, 99)} - gsmtp",
        msid=f"{_token(rng, 15, string.ascii_uppercase + string.digits)}.eurprd0{rng.randint(1, 9)}.prod.outlook.com "
        f"2024-05-02T10:{rng.randint(10, 59)}:{rng.randint(10, 59)}.{rng.randint(100, 999)}Z",
        host=f"mx{rng.randint(1, 9)}.{rng.choice(['example.org', 'example.net', 'example.com'])}",
    )


def make_events(count: int, seed: int = SEED) -> list[Event]:
    rng = random.Random(seed)
    weights = [template[0] for template in _TEMPLATES]
    events: list[Event] = []
    for weight_choice in rng.choices(_TEMPLATES, weights=weights, k=count):
        _weight, status, enhanced, template = weight_choice
        text = _fill(template, rng)
        if rng.random() < 0.5:
            events.append((status, enhanced, text))  # the agent parsed the codes
        else:
            events.append((None, None, text))  # raw text only: codes are inferred
    return events


def _run(events: list[Event]) -> float:
    start = time.perf_counter()
    for status, enhanced, text in events:
        classify(status, enhanced, text)
    return time.perf_counter() - start


def main() -> None:
    events = make_events(EVENTS)
    classify(None, None, "warm-up: compile the default rules")
    best = min(_run(events) for _ in range(REPEATS))
    print(
        json.dumps(
            {
                "bench": "classify",
                "events": EVENTS,
                "us_per_event": round(best / EVENTS * 1e6, 2),
                "rules": len(default_rules()),
            }
        )
    )


if __name__ == "__main__":
    main()
