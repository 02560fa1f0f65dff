"""Wire-format delivery events as shippers send them, shared by the wire and ingest tests.

Pure (no Django import), so the wire tests also run without a database.
"""

from __future__ import annotations

from typing import Any


def wire_event(n: int = 0, **overrides: Any) -> dict[str, Any]:
    event = {
        "event_id": f"mta-1:{n:08d}",
        "time": "2026-11-25T10:00:00.123Z",
        "type": "delivered",
        "node": "mta-1",
        "sending_ip": "198.51.100.7",
        "message_id": f"<{n}.abc@mail.example.com>",
        "from": "a@example.com",
        "to": "b@gmail.com",
        "mx": "gmail-smtp-in.l.google.com",
        "status_code": 250,
        "enhanced_status": "2.0.0",
        "response": "250 2.0.0 OK 1764064800 a1b2c3 - gsmtp",
        "delay_ms": 1234,
        "size": 2345,
        "account": "user1",
    }
    event.update(overrides)
    return event
