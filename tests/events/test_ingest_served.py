"""Real shippers' bodies against the served stack (gunicorn and daphne), with a real HTTP client.

Chunked framing, multi-member gzip, Latin-1 bytes and absurd nesting: each must be either
stored completely or answered with a JSON 4xx that names the problem; never a 500, never
a 202 that silently drops events.
"""

from __future__ import annotations

import gzip
import json

import pytest

from apps.core.models import AgentAPIKey
from apps.events.models import IngestBatch
from apps.events.services import inbox_drain

from .served import chunked_flood, ingest, recent_events, served

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LIMIT = 256 * 1024


@pytest.fixture(scope="module", params=["gunicorn", "daphne"])
def port(request, django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock(), served(
        request.param, tmp_path_factory.mktemp(request.param), MAILMON_INGEST_MAX_BODY_BYTES=str(LIMIT)
    ) as port:
        yield port


@pytest.fixture
def key(db) -> str:
    return AgentAPIKey.objects.create_key(name="served", allowed_cidrs=["127.0.0.0/8"])[1]


def stored_ids() -> set[str]:
    inbox_drain()
    from apps.events.models import EmailEvent

    return set(EmailEvent.objects.values_list("event_id", flat=True))


def test_a_chunked_body_without_content_length_is_read_and_stored(port, key):
    events = recent_events(50, prefix="chunked")
    body = json.dumps(events).encode()
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    answer = ingest(port, key, chunks, chunked=True)
    assert answer.status == 202, answer.body
    assert answer.json()["accepted"] == 50
    assert stored_ids() == {e["event_id"] for e in events}


def test_a_chunked_gzip_body_is_read_and_stored(port, key):
    events = recent_events(20, prefix="chunked-gz")
    answer = ingest(port, key, gzip.compress(json.dumps(events).encode()), chunked=True, **{"Content-Encoding": "gzip"})
    assert answer.status == 202, answer.body
    assert answer.json()["accepted"] == 20


def test_a_chunked_body_over_the_limit_is_413(port, key):
    sent, answer = chunked_flood(port, key, total=8 * LIMIT)
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, answer[:500]
    assert b"too large" in answer.lower()  # the view's message, or an ASGI guard's in front of it
    assert IngestBatch.objects.count() == 0


def test_gunicorn_answers_413_while_a_chunked_body_is_still_arriving(key, tmp_path):
    # daphne buffers every body before the application sees it (the reverse proxy in front
    # limits it there); gunicorn hands the stream over, so the view stops at the limit.
    with served("gunicorn", tmp_path, MAILMON_INGEST_MAX_BODY_BYTES=str(LIMIT)) as port:
        sent, answer = chunked_flood(port, key, total=256 * LIMIT)
    assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:500]
    assert sent < 64 * LIMIT


def test_every_member_of_a_multi_member_gzip_body_is_stored(port, key):
    first, second = recent_events(3, prefix="gz-a"), recent_events(4, prefix="gz-b")
    ndjson = [("\n".join(json.dumps(e) for e in part) + "\n").encode() for part in (first, second)]
    body = gzip.compress(ndjson[0]) + gzip.compress(ndjson[1])
    answer = ingest(port, key, body, **{"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"})
    assert answer.status == 202, answer.body
    assert answer.json()["accepted"] == 7
    assert stored_ids() == {e["event_id"] for e in first + second}


def test_trailing_garbage_after_gzip_data_is_400_naming_where(port, key):
    body = gzip.compress(json.dumps(recent_events(2)).encode())
    answer = ingest(port, key, body + b"garbage", **{"Content-Encoding": "gzip"})
    assert answer.status == 400
    assert answer.json()["detail"] == f"Body has trailing data after the gzip data at byte {len(body)}."
    assert IngestBatch.objects.count() == 0


def test_latin_1_bytes_in_a_reply_reject_that_event_by_field_and_position_and_keep_the_others(port, key):
    good, bad = recent_events(2, prefix="latin")
    bad["response"] = "550 5.1.1 Mailbox MARK unknown"
    body = json.dumps([good, bad]).encode().replace(b"MARK", b"M\xfcller")
    answer = ingest(port, key, body)
    assert answer.status == 202, answer.body
    assert answer.json()["accepted"] == 1
    assert answer.json()["rejected"] == [
        {"index": 1, "errors": {"response": ["Invalid UTF-8: byte 0xfc at position 19 of the value; send UTF-8."]}}
    ]


def test_a_single_latin_1_event_is_a_json_400(port, key):
    (event,) = recent_events(1, prefix="latin1")
    event["node"] = "NODE"
    answer = ingest(port, key, json.dumps(event).encode().replace(b"NODE", b"m\xfcller"))
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["rejected"][0]["errors"]["node"] == [
        "Invalid UTF-8: byte 0xfc at position 1 of the value; send UTF-8."
    ]


def test_json_nested_a_thousand_levels_deep_in_an_ignored_field_is_a_json_400(port, key):
    (event,) = recent_events(1, prefix="deep")
    event["extra"] = "DEEP"
    body = json.dumps([event]).encode().replace(b'"DEEP"', b"[" * 1000 + b"]" * 1000)
    answer = ingest(port, key, body)
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    position = body.index(b"[" * 1000) + 498  # the array and the event object are levels 1 and 2
    assert answer.json()["detail"] == (
        f"JSON nested too deeply: more than 500 levels at position {position} of the body."
    )
