"""Micro-benchmark of the ingest wire parser (apps.events.wire.parse_batch).

Run from the repository root: ``.venv/bin/python bench/wire.py``.  Prints one JSON line.
Timings are the best of several repetitions, which filters out scheduler noise on shared
CI machines; every repetition parses the same pre-encoded bodies.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.events.wire import parse_batch  # noqa: E402

BATCHES = 20
BATCH_SIZE = 1000
REPEATS = 7
INVALID_SHARE = 0.10

_DOMAINS = ["gmail.com", "Yahoo.com", "outlook.com", "GMX.de", "example.org", "icloud.com"]
_MX = {
    "gmail.com": "gmail-smtp-in.l.google.com",
    "yahoo.com": "mta5.am0.yahoodns.net",
    "outlook.com": "outlook-com.olc.protection.outlook.com",
    "gmx.de": "mx00.emig.gmx.net",
    "example.org": "mx.example.org",
    "icloud.com": "mx01.mail.icloud.com",
}
_OUTCOMES = [
    ("delivered", 250, "2.0.0", "250 2.0.0 OK  1764064800 a1b2c3d4e5f6 - gsmtp"),
    ("deferred", 421, "4.7.0", "421-4.7.0 Try again later, closing connection. (TLS) a1b2c3 - gsmtp"),
    ("bounced", 550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist."),
    ("rejected", 554, "5.7.26", "554 5.7.26 Unauthenticated email from example.com is not accepted"),
    ("queued", None, None, None),
    ("complained", None, None, None),
]
_WEIGHTS = [80, 8, 5, 3, 3, 1]


def _event(rng: random.Random, seq: int, base: datetime) -> dict[str, Any]:
    kind, code, enhanced, response = rng.choices(_OUTCOMES, _WEIGHTS)[0]
    domain = rng.choice(_DOMAINS)
    when = base - timedelta(milliseconds=rng.randrange(3_600_000))
    return {
        "event_id": f"mta-{seq % 8 + 1}:{seq:012d}:{rng.getrandbits(48):012x}",
        "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "type": kind,
        "node": f"mta-{seq % 8 + 1}",
        "sending_ip": f"198.51.100.{rng.randrange(1, 64)}",
        "message_id": f"<{rng.getrandbits(64):016x}.{seq}@mail.example.com>",
        "from": f"newsletter+{rng.randrange(1000)}@example.com",
        "to": f"user{rng.randrange(10**6)}@{domain}",
        "mx": _MX[domain.lower()],
        "status_code": code,
        "enhanced_status": enhanced,
        "response": response,
        "delay_ms": rng.randrange(20, 5000),
        "size": rng.randrange(2_000, 80_000),
        "account": f"user{rng.randrange(50)}",
    }


def _corrupt(rng: random.Random, event: dict[str, Any]) -> None:
    choice = rng.randrange(5)
    if choice == 0:
        event["to"] = "not-an-address"
    elif choice == 1:
        event["time"] = "2026-11-25T10:00:00"
    elif choice == 2:
        event["type"] = "exploded"
    elif choice == 3:
        event["sending_ip"] = "300.1.2.3"
    else:
        del event["event_id"]


def _batch(rng: random.Random, start: int, base: datetime, invalid_share: float) -> list[dict[str, Any]]:
    events = [_event(rng, start + i, base) for i in range(BATCH_SIZE)]
    for event in rng.sample(events, int(BATCH_SIZE * invalid_share)):
        _corrupt(rng, event)
    return events


def _best_us_per_event(bodies: list[bytes], content_type: str, events: int) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for body in bodies:
            parse_batch(body, content_type)
        best = min(best, time.perf_counter() - started)
    return round(best / events * 1e6, 3)


def main() -> None:
    rng = random.Random(20261125)
    base = datetime.now(UTC)
    valid = [_batch(rng, n * BATCH_SIZE, base, 0.0) for n in range(BATCHES)]
    mixed = _batch(rng, BATCHES * BATCH_SIZE, base, INVALID_SHARE)
    array_bodies = [json.dumps(batch).encode() for batch in valid]
    ndjson_bodies = [b"\n".join(json.dumps(event).encode() for event in batch) for batch in valid]
    mixed_body = json.dumps(mixed).encode()

    result = parse_batch(mixed_body)
    assert len(result.rejected) == int(BATCH_SIZE * INVALID_SHARE), len(result.rejected)
    assert all(not parse_batch(body).rejected for body in array_bodies)

    total = BATCHES * BATCH_SIZE
    print(
        json.dumps(
            {
                "bench": "wire",
                "events": total,
                "us_per_event_valid": _best_us_per_event(array_bodies, "application/json", total),
                "us_per_event_mixed": _best_us_per_event([mixed_body], "application/json", BATCH_SIZE),
                "us_per_event_ndjson": _best_us_per_event(ndjson_bodies, "application/x-ndjson", total),
                "mixed_invalid_share": INVALID_SHARE,
            }
        )
    )


if __name__ == "__main__":
    main()
