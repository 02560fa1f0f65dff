"""Through the real ingest path (HTTP API -> inbox -> worker), the rollups equal the raw events."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from django.utils import timezone

from apps.events import selectors
from apps.events.models import EmailEvent
from apps.events.rollups import rollups_refresh
from apps.events.services import inbox_drain
from apps.events.time_range import EventFilters, TimeRange

RESPONSES = [
    ("delivered", 250, "2.0.0", "250 2.0.0 OK 1764064800 a1b2c3 - gsmtp"),
    ("deferred", 421, "4.7.28", "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail - gsmtp"),
    ("deferred", 421, "4.7.0", "421 4.7.0 [TSS04] Messages temporarily deferred due to user complaints"),
    ("bounced", 550, "5.1.1", "550-5.1.1 The email account that you tried to reach does not exist. - gsmtp"),
    ("rejected", 550, "5.7.1", "550 5.7.1 Service unavailable, Client host blocked using Spamhaus (S3150)"),
    ("queued", None, None, None),
]


def _wire_events(count: int, start: dt.datetime, span_s: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        kind, code, enhanced, response = rng.choices(RESPONSES, [70, 8, 4, 6, 4, 8])[0]
        domain = rng.choice(["gmail.com", "outlook.com", "yahoo.com", "web.de"])
        event = {
            "event_id": f"wire-{seed}-{n}",
            "time": (start + dt.timedelta(seconds=rng.uniform(0, span_s))).isoformat(),
            "type": kind,
            "node": rng.choice(["mta-1", "mta-2"]),
            "sending_ip": rng.choice(["198.51.100.7", "198.51.100.8"]),
            "from": "news@shop.example",
            "to": f"user{n}@{domain}",
        }
        if code:
            event |= {"status_code": code, "enhanced_status": enhanced, "response": response}
        if kind in ("delivered", "deferred"):
            event["delay_ms"] = int(rng.lognormvariate(7.5, 1.5))
        events.append(event)
    return events


def _post(client, agent_headers, events) -> None:
    response = client.post("/api/v1/events/ingest", json.dumps(events), content_type="application/json",
                           **agent_headers)  # fmt: skip
    assert response.status_code == 202, response.content


@pytest.mark.django_db
def test_figures_from_ingested_events_equal_the_raw_events(client, agent_headers):
    start = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    events = _wire_events(1200, start, 3 * 3600)
    _post(client, agent_headers, events[:700])
    _post(client, agent_headers, events[500:])  # 200 resent: stored and counted once
    assert inbox_drain() == 1200
    rollups_refresh()
    for preset in ("1h", "6h", "24h"):
        time_range = TimeRange.parse(range=preset, start=None, end=None)
        span = time_range.snapped()
        raw = list(EmailEvent.objects.filter(time__gte=span.start, time__lt=span.end).values())
        stats = selectors.stats(time_range=time_range, filters=EventFilters())
        for kind in ("delivered", "deferred", "bounced", "rejected", "queued"):
            assert stats[kind] == sum(r["type"] == kind for r in raw), (preset, kind)
        delays = [r["delay_ms"] for r in raw if r["type"] == "delivered" and r["delay_ms"] is not None]
        assert stats["delivery_time_ms"]["avg"] == pytest.approx(sum(delays) / len(delays))
        analysis = selectors.bounce_analysis(time_range=time_range, filters=EventFilters())
        bounced = [r for r in raw if r["type"] in ("bounced", "rejected")]
        assert {c["category"]: c["count"] for c in analysis["by_category"]} == {
            category: sum(r["bounce_category"] == category for r in bounced)
            for category in {r["bounce_category"] for r in bounced}
        }
        assert "invalid_recipient" in {c["category"] for c in analysis["by_category"]}
        reasons = selectors.deferred_reasons(time_range=time_range, filters=EventFilters())
        assert reasons["total"] == sum(r["type"] == "deferred" for r in raw)
        destinations = selectors.destinations(time_range=time_range, filters=EventFilters(to_domain="yahoo.com"))
        (yahoo,) = destinations["results"]
        assert yahoo["delivered"] == sum(r["type"] == "delivered" and r["recipient_domain"] == "yahoo.com" for r in raw)
